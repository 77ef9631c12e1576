// sysctl netmsgs on a CPU's port (control → every CPU): a write with each value's revision, and a read.
// Framed as the control netmsgs are (type byte, u32 LE id, JSON); answered with a `reply` whose body is the CPU's values.
import { NETMSG } from "./netmsg_type.js";
import { NetmsgDrop, controlFrame, type NetmsgDropReason } from "./netmsg.js";

/** One value as the control stored it: the KV revision orders writes (a CPU keeps the newest per name). */
export interface SysctlSetting {
  value: number;
  revision: number;
}

export type SysctlNetmsg =
  | { type: typeof NETMSG.sysctlSet; id: number; values: Record<string, SysctlSetting> }
  | { type: typeof NETMSG.sysctlGet; id: number };

/** At most this many names in one write (bounds what one message makes a CPU do). */
export const SYSCTL_MAX_NAMES = 256;

const dec = new TextDecoder("utf-8", { fatal: true });


export const encodeSysctlNetmsg = {
  set: (id: number, values: Record<string, SysctlSetting>) => controlFrame(NETMSG.sysctlSet, id, { values }),
  get: (id: number) => controlFrame(NETMSG.sysctlGet, id, undefined),
} as const;

const isRev = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

function isSettings(v: unknown): v is Record<string, SysctlSetting> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const e = Object.entries(v as Record<string, unknown>);
  if (e.length > SYSCTL_MAX_NAMES) return false;
  return e.every(([, s]) => typeof s === "object" && s !== null && Number.isInteger((s as SysctlSetting).value) && isRev((s as SysctlSetting).revision));
}

/** Decodes a sysctl netmsg (names and ranges are checked by the CPU against its table). */
export function decodeSysctlNetmsg(data: Uint8Array): SysctlNetmsg | NetmsgDropReason {
  if (data.length < 5) return NetmsgDrop.tooshort;
  const type = data[0];
  if (type !== NETMSG.sysctlSet && type !== NETMSG.sysctlGet) return NetmsgDrop.badtype;
  const id = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1, true);
  if (type === NETMSG.sysctlGet) return data.length === 5 ? { type, id } : NetmsgDrop.badbody;
  let body: unknown;
  try {
    body = JSON.parse(dec.decode(data.subarray(5)));
  } catch {
    return NetmsgDrop.badjson;
  }
  const values = (body as { values?: unknown } | null)?.values;
  return isSettings(values) ? { type, id, values } : NetmsgDrop.badbody;
}
