/**
 * serve.ts's pure parts: request heads (keep-alive rules of RFC 9112 §9.3 and HTTP/1.0's
 * `Connection: keep-alive`), routes, and the /bytes body against the issue's text. The servers
 * themselves are judged by curl and ab in test/integration/tun.
 */
import { describe, expect, it } from "vitest";
import { parseServeRequest, servePatternAt, serveRoute } from "@dfly/apps";

describe("serve: requests and routes", () => {
  it("HTTP/1.1 keeps the connection unless Connection: close; HTTP/1.0 only with keep-alive", () => {
    expect(parseServeRequest("GET / HTTP/1.1\r\nHost: x")).toEqual({ method: "GET", path: "/", keepAlive: true });
    expect(parseServeRequest("GET / HTTP/1.1\r\nConnection: close")?.keepAlive).toBe(false);
    expect(parseServeRequest("GET / HTTP/1.0\r\nHost: x")?.keepAlive).toBe(false);
    expect(parseServeRequest("GET / HTTP/1.0\r\nconnection: Keep-Alive")?.keepAlive).toBe(true);
    expect(parseServeRequest("GET /\r\n")).toBeNull();
    expect(parseServeRequest("GET / HTTP/2.0")).toBeNull();
  });
  it("/ is 1 KB, /bytes/N is N bytes, other paths 404, other methods 405", () => {
    const r = (method: string, path: string) => serveRoute({ method, path, keepAlive: true });
    expect(r("GET", "/")).toEqual({ status: "200 OK", length: 1024 });
    expect(r("HEAD", "/bytes/52428800")).toEqual({ status: "200 OK", length: 52428800 });
    expect(r("GET", "/bytes/0")).toEqual({ status: "200 OK", length: 0 });
    expect(r("GET", "/bytes/-1").status).toBe("404 Not Found");
    expect(r("GET", "/bytes/99999999999999").status).toBe("404 Not Found");
    expect(r("POST", "/").status).toBe("405 Method Not Allowed");
  });
  it("the body is `dfly-netstack\\n` repeated and cut at N, from any offset", () => {
    const want = Buffer.alloc(300_000, "dfly-netstack\n", "latin1");
    const got: Uint8Array[] = [];
    for (let off = 0; off < want.length; ) {
      const c = servePatternAt(off, Math.min(want.length - off, 1 + ((off * 7919) % 70_000)));
      got.push(c);
      off += c.length;
    }
    expect(Buffer.concat(got).equals(want)).toBe(true);
  });
});
