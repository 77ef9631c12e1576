/** Shape checks of route text (dotted quads, /0-32) shared by the stored JSON and the bulk-load lines; the RouteTable checks the rest. */
const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const PREFIX = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

const octetsOk = (m: RegExpExecArray) => Number(m[1]) <= 255 && Number(m[2]) <= 255 && Number(m[3]) <= 255 && Number(m[4]) <= 255;

/** Why a text is not `a.b.c.d/len` (undefined: it is). */
export function prefixShapeError(s: string): string | undefined {
  const m = PREFIX.exec(s);
  if (!m) return `"${s.slice(0, 64)}" is not a.b.c.d/len`;
  if (!octetsOk(m)) return `"${s}": an octet is above 255`;
  if (Number(m[5]) > 32) return `"${s}": length above 32`;
  return undefined;
}

/** Why a text is not `a.b.c.d` (undefined: it is). */
export function addressShapeError(s: string): string | undefined {
  const m = QUAD.exec(s);
  if (!m) return `"${s.slice(0, 64)}" is not a.b.c.d`;
  return octetsOk(m) ? undefined : `"${s}": an octet is above 255`;
}
