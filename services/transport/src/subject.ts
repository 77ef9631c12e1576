import { BadSubjectError, KvBadKeyError } from "./errors.js";

/** NATS subject rules: non-empty `.`-separated tokens without whitespace; in a pattern `*` is one token, a final `>` one or more. */
export function checkSubject(subject: string, pattern: boolean): void {
  if (subject.length === 0 || /\s/.test(subject)) throw new BadSubjectError(subject);
  const tokens = subject.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.length === 0) throw new BadSubjectError(subject);
    if (!pattern && (t === "*" || t === ">")) throw new BadSubjectError(subject);
    if (t === ">" && i !== tokens.length - 1) throw new BadSubjectError(subject);
  }
}

export function isPattern(subject: string): boolean {
  return subject.includes("*") || subject.includes(">");
}

/** Whether `subject` (no wildcards) matches `pattern`. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  if (!isPattern(pattern)) return false;
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== "*" && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

const KEY_OK = /^[-/_=.a-zA-Z0-9]+$/;

export function checkKvKey(key: string): void {
  if (!KEY_OK.test(key) || key.startsWith(".") || key.endsWith(".")) throw new KvBadKeyError(key);
}

/** Encodes any string as a valid KV key (`%` escapes as `=XX`). Reversible with `kvKeyDecode`. */
export function kvKey(s: string): string {
  let out = "";
  for (const ch of s) {
    if (/[-/_.a-zA-Z0-9]/.test(ch)) out += ch;
    else for (const b of new TextEncoder().encode(ch)) out += "=" + b.toString(16).padStart(2, "0");
  }
  if (out.startsWith(".")) out = "=2e" + out.slice(1);
  if (out.endsWith(".")) out = out.slice(0, -1) + "=2e";
  return out.length === 0 ? "=" : out;
}

export function kvKeyDecode(k: string): string {
  if (k === "=") return "";
  const bytes: number[] = [];
  for (let i = 0; i < k.length; i++) {
    if (k[i] === "=") {
      bytes.push(parseInt(k.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(k.charCodeAt(i));
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}
