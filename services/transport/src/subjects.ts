/** Subject names of DESIGN.md §3. `c` is the cluster name (the helm release), default "dfly". */
export const subjects = {
  wireIn: (c: string, ifname: string) => `${c}.wire.${ifname}.in`,
  wireOut: (c: string, ifname: string) => `${c}.wire.${ifname}.out`,
  rx: (c: string, ifname: string, ring: number) => `${c}.nic.${ifname}.rx.${ring}`,
  tx: (c: string, ifname: string, ring: number) => `${c}.nic.${ifname}.tx.${ring}`,
  netisr: (c: string, cpu: number) => `${c}.netisr.${cpu}`,
  /** The same CPU port, for what only the control may say (routes, topology, listeners, stats requests): only the control's NATS user may publish here. */
  ctl: (c: string, cpu: number) => `${c}.ctl.${cpu}`,
  sock: (c: string, id: string | number) => `${c}.sock.${id}`,
} as const;
