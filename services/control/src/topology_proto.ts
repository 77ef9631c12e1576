/** Conversions between the topology/interface proto messages and `@dfly/wire`'s TopologyMsg / InterfaceSpecT. */
import type { InterfaceSpecT, TopologyMsg } from "@dfly/wire";
import { BadRequestError } from "./errors.js";
import { InterfaceMode, type InterfaceSpec, type Topology } from "./gen/dfly/netstack/v1/cluster.js";

export function topologyMsgOf(t: Topology): TopologyMsg {
  return {
    epoch: t.epoch,
    cpus: t.cpus,
    rssKey: Buffer.from(t.rssKey).toString("hex"),
    interfaces: t.interfaces.map((i) => ({
      ifname: i.spec?.ifname ?? "",
      model: i.spec?.model ?? "",
      mode: i.spec?.mode === InterfaceMode.INTERFACE_MODE_POLLING ? "polling" : "interrupt",
      rings: i.rings,
      ringToCpu: i.ringToCpu,
      redirect: i.redirect,
      addresses: i.spec?.addresses ?? [],
      unit: i.spec?.unit ?? 0,
      pollhz: i.spec?.pollhz ?? 0,
      hwRings: i.spec?.rings ?? i.rings,
    })),
  };
}

export function topologyProtoOf(t: TopologyMsg): Topology {
  return {
    epoch: t.epoch,
    cpus: t.cpus,
    rssKey: Buffer.from(t.rssKey, "hex"),
    interfaces: t.interfaces.map((i) => ({
      spec: {
        ifname: i.ifname,
        model: i.model,
        mode: i.mode === "polling" ? InterfaceMode.INTERFACE_MODE_POLLING : InterfaceMode.INTERFACE_MODE_INTERRUPT,
        rings: i.hwRings ?? i.rings,
        unit: i.unit ?? 0,
        addresses: i.addresses,
        pollhz: i.pollhz ?? 0,
        redirectEntries: i.redirect.length,
      },
      rings: i.rings,
      ringToCpu: i.ringToCpu,
      redirect: i.redirect,
    })),
  };
}

export function interfaceSpecOf(p: InterfaceSpec | undefined): InterfaceSpecT {
  if (!p) throw new BadRequestError("spec", "missing");
  const mode = p.mode === InterfaceMode.INTERFACE_MODE_POLLING ? "polling" : p.mode === InterfaceMode.INTERFACE_MODE_INTERRUPT ? "interrupt" : undefined;
  if (!mode) throw new BadRequestError("spec.mode", "must be INTERFACE_MODE_INTERRUPT or INTERFACE_MODE_POLLING");
  return {
    ifname: p.ifname,
    model: p.model,
    mode,
    rings: p.rings,
    unit: p.unit,
    addresses: p.addresses,
    pollhz: p.pollhz,
    redirectEntries: p.redirectEntries,
  };
}

export function interfaceSpecProtoOf(s: InterfaceSpecT): InterfaceSpec {
  return { ...s, mode: s.mode === "polling" ? InterfaceMode.INTERFACE_MODE_POLLING : InterfaceMode.INTERFACE_MODE_INTERRUPT };
}
