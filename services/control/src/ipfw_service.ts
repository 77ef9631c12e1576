/** The IpfwService gRPC handlers over `IpfwManager`; rule errors are INVALID_ARGUMENT, unknown numbers NOT_FOUND. */
import { status } from "@grpc/grpc-js";
import { IpfwRuleError } from "@dfly/core";
import { IpfwServiceService, type IpfwServiceServer } from "./gen/dfly/netstack/v1/ipfw.js";
import { grpcStatusOf, type GrpcStatusOf } from "./errors.js";
import { unary as unaryWith } from "./grpc_unary.js";
import { IpfwRuleNotFoundError, type IpfwChangeResult, type IpfwManager } from "./ipfw.js";

export { IpfwServiceService };

/** Rule text errors are the caller's (INVALID_ARGUMENT), an unknown rule number NOT_FOUND; the rest as every service. */
function ipfwStatusOf(err: unknown): GrpcStatusOf {
  if (err instanceof IpfwRuleError) return { code: status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof IpfwRuleNotFoundError) return { code: status.NOT_FOUND, details: err.message };
  return grpcStatusOf(err);
}

const unary = <Req, Res>(f: (req: Req) => Promise<Res> | Res) => unaryWith(f, ipfwStatusOf);

const change = (r: IpfwChangeResult) => ({ revision: r.revision, digest: r.digest, appliedCpus: r.applied, rules: r.rules });

export function ipfwService(m: IpfwManager): IpfwServiceServer {
  return {
    addRules: unary(async (req) => change(await m.add(req.rules))),
    deleteRules: unary(async (req) => change(await m.delete(req.numbers))),
    flush: unary(async () => change(await m.flush())),
    tableAdd: unary(async (req) => change(await m.tableAdd(req.name, req.prefixes))),
    tableDelete: unary(async (req) => change(await m.tableDelete(req.name, req.prefixes))),
    listRules: unary(async (req) => {
      const rs = m.ruleset;
      const spec = rs.spec();
      const base = {
        rules: rs.rules.map((r, i) => ({ number: r.num, rule: spec.rules[i], packets: 0, bytes: 0 })),
        tables: Object.entries(spec.tables).map(([name, prefixes]) => ({ name, prefixes })),
        revision: m.revision,
        digest: rs.digest,
        cpus: [] as { cpu: number; states: number; created: number; expired: number; crossCpuLookups: number }[],
        unreachableCpus: [] as number[],
      };
      if (!req.counters) return base;
      const s = await m.show();
      // Sum each rule's counters over the CPUs by position of its canonical text (duplicates keep their order).
      const rows = [...base.rules, { number: 65535, rule: "", packets: 0, bytes: 0 }];
      for (const c of s.cpus) {
        const used = new Set<number>();
        for (const cr of c.rules) {
          const k = rows.findIndex((r, i) => !used.has(i) && (r.rule === cr.rule || (r.number === 65535 && cr.num === 65535)));
          if (k < 0) continue;
          used.add(k);
          rows[k].packets += cr.packets;
          rows[k].bytes += cr.bytes;
          if (rows[k].number === 65535) rows[k].rule = cr.rule;
        }
      }
      return {
        ...base,
        rules: rows,
        cpus: s.cpus.map((c) => ({ cpu: c.cpu, states: c.states, created: c.created, expired: c.expired, crossCpuLookups: c.crossCpu })),
        unreachableCpus: s.unreachable,
      };
    }),
    verifyRules: unary(async () => m.verify()),
  };
}
