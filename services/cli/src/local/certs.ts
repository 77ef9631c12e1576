/** Certificates for a local stack (`dfly up --secure`, tests): a CA and leaf certificates it signs, made with Debian's openssl (P-256, 30 days). */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface LocalPki {
  /** PEM paths. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** openssl is missing or failed (its stderr's first line). */
export class CertGenError extends Error {
  override readonly name = "CertGenError";
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const why = e.code === "ENOENT" ? "openssl not found (apt-get install openssl)" : (e.stderr?.toString().split("\n")[0] ?? e.message);
    throw new CertGenError(`openssl ${args[0]}: ${why}`, { cause: err });
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A leaf signed by the CA in `dir`; `san` e.g. "IP:127.0.0.1,DNS:localhost". */
function leaf(dir: string, name: string, cn: string, san: string | undefined, usage: string): void {
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `${san ? `subjectAltName=${san}\n` : ""}extendedKeyUsage=${usage}\n`);
  openssl(["req", ...EC, "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.csr`), "-subj", `/CN=${cn}`]);
  openssl(["x509", "-req", "-in", join(dir, `${name}.csr`), "-CA", join(dir, "ca.crt"), "-CAkey", join(dir, "ca.key"), "-CAcreateserial", "-out", join(dir, `${name}.crt`), "-days", "30", "-extfile", ext]);
}

/** Writes ca.crt/key, server.crt/key (for 127.0.0.1 and localhost) and client.crt/key into `dir`. */
export function makeLocalPki(dir: string, caName = "dfly-local-ca"): LocalPki {
  openssl(["req", "-x509", ...EC, "-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.crt"), "-subj", `/CN=${caName}`, "-days", "30"]);
  leaf(dir, "server", "dfly-local", "IP:127.0.0.1,DNS:localhost", "serverAuth");
  leaf(dir, "client", "dfly-client", undefined, "clientAuth");
  return {
    ca: join(dir, "ca.crt"),
    serverCert: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
    clientCert: join(dir, "client.crt"),
    clientKey: join(dir, "client.key"),
  };
}
