/** The cluster topology as the control pushes it to every CPU and NIC, and what a NIC registers. */

export const InterfaceModes = { interrupt: "interrupt", polling: "polling" } as const;
export type InterfaceModeName = (typeof InterfaceModes)[keyof typeof InterfaceModes];

/** What a NIC registers (the proto's InterfaceSpec, mode as a name). */
export interface InterfaceSpecT {
  ifname: string;
  model: string;
  mode: InterfaceModeName;
  rings: number;
  unit: number;
  addresses: string[];
  pollhz: number;
  redirectEntries: number;
}

export interface InterfaceTopology {
  ifname: string;
  model: string;
  mode: string;
  /** Rings after the ringmap fix-up. */
  rings: number;
  /** Ring r is polled by CPU `ringToCpu[r]` (a CPU id). */
  ringToCpu: number[];
  /** RSS redirection table: bucket → ring. */
  redirect: number[];
  /** Addresses of the interface, `a.b.c.d/len`. */
  addresses: string[];
  /** Device unit (the ringmap's CPU offset). */
  unit?: number;
  /** Polling rate (polling mode), Hz. */
  pollhz?: number;
  /** Rings the NIC offered before the ringmap fix-up. */
  hwRings?: number;
}

/** The cluster topology (ClusterService.GetTopology, pushed to every CPU on change). */
export interface TopologyMsg {
  epoch: number;
  /** Live CPU ids, ascending. netisr_hashcpu's index i names `cpus[i]`. */
  cpus: number[];
  interfaces: InterfaceTopology[];
  /** RSS key, hex. */
  rssKey: string;
}
