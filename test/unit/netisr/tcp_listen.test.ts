/**
 * A host's listeners (tcp_listen.ts): Linux's migrate_reuseport selftest at the socket layer —
 * 5 listeners, 25 connections completed but not accepted, close 4 — under each close policy.
 */
import { describe, expect, it } from "vitest";
import { ListenerPolicy, TcpConnectionError, TcpState } from "@dfly/core";
import { HostListenBackend, SockOpt, Sockets, SoEvent } from "@dfly/netisr/internal";
import { bytes, CLIENT, SERVER, text, Wire } from "../../support/tcp-wire.js";

describe("listener inheritance: Linux's migrate_reuseport selftest at the socket layer", () => {
  async function scenario(policy: ListenerPolicy) {
    const w = new Wire(4, 4, policy);
    const backend = new HostListenBackend(w.server);
    const servers = Array.from({ length: 5 }, (_, i) => new Sockets({ host: w.server, cpu: i % 4, owner: `w${i}`, listen: backend }));
    const lfds: number[] = [];
    for (const s of servers) {
      const fd = s.socket(); // nobody accepts yet
      s.setsockopt(fd, SockOpt.SO_REUSEPORT, true);
      s.bind(fd, 0, 8080);
      const r = await s.listen(fd);
      expect(r.index).toBe(lfds.length); // slots in order
      lfds.push(fd);
    }
    const cs = new Sockets({ host: w.client, cpu: 0, owner: "c", source: () => CLIENT });
    const cev: Map<number, SoEvent[]> = new Map();
    const cfds: number[] = [];
    for (let i = 0; i < 25; i++) {
      const fd = cs.socket((f, e) => cev.get(f)!.push(e));
      cev.set(fd, []);
      cs.connect(fd, SERVER, 8080);
      cfds.push(fd);
    }
    w.pump();
    const recs = w.server.listenerList();
    expect(recs.reduce((n, r) => n + r.ls.qlen, 0)).toBe(25); // completed, not accepted
    const onClosed = recs.slice(0, 4).reduce((n, r) => n + r.ls.qlen, 0);
    const onSurvivor = recs[4].ls.qlen;
    expect(onClosed).toBeGreaterThan(0);
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await servers[i].close(lfds[i])!);
    w.pump();
    return { w, servers, lfds, cs, cfds, cev, replies, onClosed, onSurvivor, survivor: recs[4] };
  }

  it("DragonFly: all 25 are accepted on the survivor and served, none reset", async () => {
    const s = await scenario(ListenerPolicy.DRAGONFLY);
    expect(s.replies.reduce((n, r) => n + r.migrated, 0)).toBe(s.onClosed);
    expect(s.replies.every((r) => r.dropped === 0)).toBe(true);
    expect(s.survivor.ls.qlen).toBe(25);
    const srv = s.servers[4];
    const accepted: number[] = [];
    for (let fd = srv.accept(s.lfds[4]); fd >= 0; fd = srv.accept(s.lfds[4])) accepted.push(fd);
    expect(accepted.length).toBe(25);
    for (const fd of accepted) {
      srv.send(fd, bytes("ok"));
      srv.close(fd);
    }
    s.w.pump();
    for (const fd of s.cfds) {
      expect(text(s.cs.recv(fd))).toBe("ok");
      expect(s.cev.get(fd)).not.toContain(SoEvent.ERROR);
    }
    let moved = 0;
    for (let c = 0; c < 4; c++) moved += s.w.server.pcb.stats[c].listenerMigrations.dragonfly.moved;
    expect(moved).toBe(s.onClosed);
  });

  it("Linux (before 5.14): resets equal the connections that were queued on the closed listeners", async () => {
    const s = await scenario(ListenerPolicy.LINUX);
    const dropped = s.replies.reduce((n, r) => n + r.dropped, 0);
    expect(dropped).toBe(s.onClosed);
    const reset = s.cfds.filter((fd) => s.cev.get(fd)!.includes(SoEvent.ERROR));
    expect(reset.length).toBe(s.onClosed);
    for (const fd of reset) expect(() => s.cs.recv(fd)).toThrow(TcpConnectionError);
    expect(s.survivor.ls.qlen).toBe(s.onSurvivor);
  });

  it("tcp_migrate_req: every queued connection migrates to a live member, ending on the survivor (TcpMigrateReqSuccess)", async () => {
    const s = await scenario(ListenerPolicy.LINUX_MIGRATE_REQ);
    expect(s.survivor.ls.qlen).toBe(25);
    let ok = 0;
    let fail = 0;
    for (let c = 0; c < 4; c++) {
      ok += s.w.server.pcb.stats[c].TcpMigrateReqSuccess;
      fail += s.w.server.pcb.stats[c].TcpMigrateReqFailure;
    }
    // A connection may move more than once (to a member that is closed later): each move counts.
    expect(ok).toBeGreaterThanOrEqual(s.onClosed);
    expect(fail).toBe(0);
    expect(s.cfds.every((fd) => !s.cev.get(fd)!.includes(SoEvent.ERROR))).toBe(true);
  });

  it("closing the last member resets what is queued on it", async () => {
    const s = await scenario(ListenerPolicy.DRAGONFLY);
    const r = await s.servers[4].close(s.lfds[4])!;
    expect(r).toMatchObject({ migrated: 0, dropped: 25, heir: "" });
    s.w.pump();
    expect(s.cfds.every((fd) => s.cev.get(fd)!.includes(SoEvent.ERROR))).toBe(true);
    for (let c = 0; c < 4; c++) expect(s.w.server.pcb.pcbinfo[c].connCount).toBe(0);
    expect(s.w.server.pcb.count).toBe(0);
    void TcpState;
  });
});
