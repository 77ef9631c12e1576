/**
 * `dfly up --secure`: generated credentials for a local stack. NATS users per role, each allowed
 * only its subjects (what only the control may say travels on `<c>.ctl.<cpu>`), a control
 * token and TLS certificates; every file 0600 in `<state>/secure`, found again through the context.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeLocalPki } from "./certs.js";

export const NatsRoles = { control: "control", netisr: "netisr", nic: "nic", load: "load" } as const;
export type NatsRole = (typeof NatsRoles)[keyof typeof NatsRoles];

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

/** Each role's subjects (DESIGN.md §3). Replies to requests go to `_INBOX.>`. */
export function natsPermissions(c: string): Record<NatsRole, NatsPermissions> {
  return {
    // Routes, topology, listeners: the control's subject; JetStream KV for its state.
    control: { publish: [`${c}.ctl.>`, "$JS.>", "$KV.>", "_INBOX.>"], subscribe: ["_INBOX.>", "$KV.>"] },
    // Other CPUs' ports (redispatch, hand-over), its rings' TX, socket events; never the wire, never ctl.
    netisr: { publish: [`${c}.netisr.>`, `${c}.nic.*.tx.>`, `${c}.sock.>`, "_INBOX.>"], subscribe: [`${c}.netisr.>`, `${c}.ctl.>`, `${c}.nic.*.rx.>`, "_INBOX.>"] },
    // Its interfaces: RX rings towards the CPUs, the cable out.
    nic: { publish: [`${c}.nic.*.rx.>`, `${c}.wire.*.out`, "_INBOX.>"], subscribe: [`${c}.nic.*.tx.>`, `${c}.wire.*.in`, "_INBOX.>"] },
    // A link partner (pktgen, replay, load): the wire, and a program's socket calls.
    load: { publish: [`${c}.wire.*.in`, `${c}.netisr.>`, "_INBOX.>"], subscribe: [`${c}.wire.*.out`, `${c}.sock.>`, "_INBOX.>"] },
  };
}

const q = (s: string) => JSON.stringify(s);
const list = (a: string[]) => `[${a.map(q).join(", ")}]`;

/** nats-server's `authorization` block with one user per role. */
export function natsAuthConf(cluster: string, passwords: Record<NatsRole, string>): string {
  const perms = natsPermissions(cluster);
  const users = (Object.keys(perms) as NatsRole[]).map(
    (r) => `    { user: ${q(r)}, password: ${q(passwords[r])}, permissions: { publish: { allow: ${list(perms[r].publish)} }, subscribe: { allow: ${list(perms[r].subscribe)} } } }`,
  );
  return `authorization {\n  users: [\n${users.join(",\n")}\n  ]\n}\n`;
}

export interface SecureFiles {
  dir: string;
  natsConf: string;
  controlCa: string;
  controlCert: string;
  controlKey: string;
  controlToken: string;
  natsPassword: Record<NatsRole, string>;
}

function secret(path: string, value: string): void {
  writeFileSync(path, value, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Makes the credentials of a stack in `dir` (created 0700). */
export function makeSecure(dir: string, cluster: string): SecureFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const pki = makeLocalPki(dir);
  const pw = {} as Record<NatsRole, string>;
  const natsPassword = {} as Record<NatsRole, string>;
  for (const r of Object.values(NatsRoles)) {
    pw[r] = randomBytes(18).toString("base64url");
    natsPassword[r] = join(dir, `nats-${r}.password`);
    secret(natsPassword[r], pw[r]);
  }
  const controlToken = join(dir, "control.token");
  secret(controlToken, randomBytes(24).toString("base64url"));
  const natsConf = join(dir, "nats.conf");
  secret(natsConf, natsAuthConf(cluster, pw));
  return { dir, natsConf, controlCa: pki.ca, controlCert: pki.serverCert, controlKey: pki.serverKey, controlToken, natsPassword };
}

/** A service's environment for its role (the control also gets its certificate). */
export function secureEnv(s: SecureFiles, role: NatsRole): Record<string, string> {
  const env: Record<string, string> = { DFLY_NATS_USER: role, DFLY_NATS_PASSWORD_FILE: s.natsPassword[role], DFLY_CONTROL_TOKEN_FILE: s.controlToken };
  if (role === NatsRoles.control) Object.assign(env, { DFLY_CONTROL_TLS_CERT: s.controlCert, DFLY_CONTROL_TLS_KEY: s.controlKey });
  else env.DFLY_CONTROL_TLS_CA = s.controlCa;
  return env;
}

/** The credentials were removed (or never made): one line. */
export class SecureContextError extends Error {
  override readonly name = "SecureContextError";
}

function need(path: string): string {
  if (!existsSync(path)) throw new SecureContextError(`the stack was started with --secure but ${path} is gone; pass --token/--tls-ca, or dfly down && dfly up --secure`);
  return readFileSync(path, "utf8").trim();
}

/** What a command of the user presents to a secure stack: the control's CA and token, the load role's NATS password. */
export function secureClient(dir: string): { ca: Buffer; token: string; natsUser: string; natsPass: string } {
  const token = need(join(dir, "control.token"));
  need(join(dir, "ca.crt"));
  return { ca: readFileSync(join(dir, "ca.crt")), token, natsUser: NatsRoles.load, natsPass: need(join(dir, `nats-${NatsRoles.load}.password`)) };
}
