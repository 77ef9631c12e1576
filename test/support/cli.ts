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
