/**
 * Debian's chromium, headless, driven over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: NUL-terminated JSON on fds 3 and 4; no WebSocket, no port). A test
 * opens a page, sees every console message, uncaught exception and log entry (failed loads)
 * it produced, evaluates expressions in it and takes screenshots.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

export function chromiumPath(): string {
  const r = spawnSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" });
  const p = r.stdout.trim();
  if (!p) throw new Error("chromium is not installed: run scripts/setup-machine.sh (apt-get install chromium)");
  return p;
}

export interface PageProblem {
  kind: "console" | "exception" | "log";
  level: string;
  text: string;
}

interface CdpMessage {
  id?: number;
  method?: string;
  sessionId?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
}

export class Chromium {
  private nextId = 1;
  private readonly waits = new Map<number, { res: (r: Record<string, unknown>) => void; rej: (e: Error) => void }>();
  private readonly listeners: ((m: CdpMessage) => void)[] = [];
  private buf = "";

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const out = child.stdio[4] as Readable;
    out.on("data", (d: Buffer) => {
      this.buf += d.toString("utf8");
      let i: number;
      while ((i = this.buf.indexOf("\0")) >= 0) {
        const m = JSON.parse(this.buf.slice(0, i)) as CdpMessage;
        this.buf = this.buf.slice(i + 1);
        if (m.id !== undefined) {
          const w = this.waits.get(m.id);
          this.waits.delete(m.id);
          if (m.error) w?.rej(new Error(m.error.message));
          else w?.res(m.result ?? {});
        } else for (const l of this.listeners) l(m);
      }
    });
  }

  static start(): Chromium {
    const profile = mkdtempSync(join(tmpdir(), "dfly-chromium-"));
    const child = spawn(
      chromiumPath(),
      ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions", "--disable-background-networking", "--remote-debugging-pipe", `--user-data-dir=${profile}`, "about:blank"],
      { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] },
    );
    return new Chromium(child, profile);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((res, rej) => {
      this.waits.set(id, { res, rej });
      (this.child.stdio[3] as Writable).write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + "\0");
    });
  }

  /**
   * Opens `url` in a new tab of `width`×`height` and waits for its load event; `problems`
   * collects what the page reported from then on.
   */
  async open(url: string, width = 1200, height = 900): Promise<Page> {
    const { targetId } = (await this.send("Target.createTarget", { url: "about:blank" })) as { targetId: string };
    const { sessionId } = (await this.send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string };
    const problems: PageProblem[] = [];
    let loaded!: () => void;
    const load = new Promise<void>((r) => (loaded = r));
    this.listeners.push((m) => {
      if (m.sessionId !== sessionId || !m.params) return;
      const p = m.params as Record<string, never>;
      if (m.method === "Runtime.consoleAPICalled") {
        const args = (p.args as { value?: unknown; description?: string }[]).map((a) => String(a.value ?? a.description ?? ""));
        problems.push({ kind: "console", level: p.type, text: args.join(" ") });
      } else if (m.method === "Runtime.exceptionThrown") {
        const d = p.exceptionDetails as { text: string; exception?: { description?: string } };
        problems.push({ kind: "exception", level: "error", text: `${d.text} ${d.exception?.description ?? ""}` });
      } else if (m.method === "Log.entryAdded") {
        const e = p.entry as { level: string; text: string; url?: string };
        problems.push({ kind: "log", level: e.level, text: `${e.text} ${e.url ?? ""}` });
      } else if (m.method === "Page.loadEventFired") loaded();
    });
    await this.send("Runtime.enable", {}, sessionId);
    await this.send("Log.enable", {}, sessionId);
    await this.send("Page.enable", {}, sessionId);
    await this.send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
    await this.send("Page.navigate", { url }, sessionId);
    await load;
    return new Page(this, sessionId, problems);
  }

  async close(): Promise<void> {
    const gone = new Promise<void>((r) => (this.child.exitCode !== null ? r() : this.child.once("exit", () => r())));
    await Promise.race([this.send("Browser.close").catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
    const t = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await gone;
    clearTimeout(t);
    rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Page {
  constructor(
    private readonly c: Chromium,
    private readonly session: string,
    /** Console messages, uncaught exceptions and log entries since the page was opened. */
    readonly problems: PageProblem[],
  ) {}

  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.c.send("Runtime.evaluate", { expression, returnByValue: true }, this.session)) as { result: { value: T }; exceptionDetails?: { text: string } };
    if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.text}`);
    return r.result.value;
  }

  /** The page (or the `clip` rectangle of it, CSS pixels) as PNG bytes. */
  async screenshot(clip?: { x: number; y: number; width: number; height: number }): Promise<Uint8Array> {
    let area = clip;
    if (!area) {
      const m = (await this.c.send("Page.getLayoutMetrics", {}, this.session)) as { cssContentSize: { width: number; height: number } };
      area = { x: 0, y: 0, width: Math.ceil(m.cssContentSize.width), height: Math.ceil(m.cssContentSize.height) };
    }
    const r = (await this.c.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true, clip: { ...area, scale: 1 } }, this.session)) as { data: string };
    return Buffer.from(r.data, "base64");
  }
}
