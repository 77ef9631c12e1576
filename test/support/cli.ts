/** Runs `dfly` in this process (dispatch) with its output captured, and how long it took. */
import { dispatch, type CliIO } from "@dfly/cli";

export async function runCli(...argv: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  let out = "";
  let err = "";
  const io: CliIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: async () => "" };
  const t0 = Date.now();
  const code = await dispatch(argv, io);
  return { code, out, err, ms: Date.now() - t0 };
}

/** A command's usage, as `dfly WORDS --help` prints it (exit 0). */
export async function usageOf(words: string[]): Promise<string> {
  const r = await runCli(...words, "--help");
  if (r.code !== 0) throw new Error(`dfly ${words.join(" ")} --help: exit ${r.code}: ${r.err}`);
  return r.out;
}
