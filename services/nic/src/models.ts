/**
 * NIC models: how many RX/TX rings the hardware has, how many MSI-X vectors, how big its
 * RSS redirection table (RETA) is, its interrupt moderation rate and its default RX ring
 * size — what DragonFly's igb(4)/ix(4) drivers read from the hardware or define
 * (sys/dev/netif/ix/if_ix.h: IX_MAX_RXRING 16, IX_MAX_MSIX 64, IX_NRETA 32×4 = 128 entries,
 * X550 128×4 = 512, IX_MSIX_RX_RATE 8000, IX_DEF_RXD 1024; igb: 82576 16 queues and 10
 * MSI-X vectors, paper §1.7).
 *
 * Interrupt mode needs one MSI-X vector per RX/TX ring pair plus one for link status, and
 * the drivers use a power-of-2 ring count there: an 82576 (10 vectors) runs 8 rings with
 * interrupts and all 16 with polling(4) (paper §1.7).
 */

export interface NicModel {
  readonly name: string;
  /** igb or ix: the DragonFly driver. */
  readonly driver: "igb" | "ix" | "emx";
  /** RX (and TX) rings the hardware has. */
  readonly rings: number;
  readonly msix: number;
  /** RSS redirection table entries. */
  readonly retaEntries: number;
  /** Interrupt moderation: interrupts per second per vector (hw.ixN.msix.rx_rate and the like). */
  readonly intrRate: number;
  /** RX descriptors per ring. */
  readonly rxd: number;
  /** Driver allocates its ringmap with if_ringmap_alloc2 (power-of-2 ring count). */
  readonly ringsPowerOf2: boolean;
}

export const NIC_MODELS: Readonly<Record<string, NicModel>> = {
  "82574": { name: "82574", driver: "emx", rings: 2, msix: 5, retaEntries: 128, intrRate: 6000, rxd: 512, ringsPowerOf2: true },
  "82576": { name: "82576", driver: "igb", rings: 16, msix: 10, retaEntries: 128, intrRate: 6000, rxd: 512, ringsPowerOf2: true },
  i350: { name: "i350", driver: "igb", rings: 8, msix: 10, retaEntries: 128, intrRate: 6000, rxd: 512, ringsPowerOf2: true },
  i210: { name: "i210", driver: "igb", rings: 4, msix: 5, retaEntries: 128, intrRate: 6000, rxd: 512, ringsPowerOf2: true },
  "82599": { name: "82599", driver: "ix", rings: 16, msix: 64, retaEntries: 128, intrRate: 8000, rxd: 1024, ringsPowerOf2: false },
  x540: { name: "x540", driver: "ix", rings: 16, msix: 64, retaEntries: 128, intrRate: 8000, rxd: 1024, ringsPowerOf2: false },
  x550: { name: "x550", driver: "ix", rings: 64, msix: 64, retaEntries: 512, intrRate: 8000, rxd: 1024, ringsPowerOf2: false },
};

export const DEFAULT_NIC_MODEL = "82599";

/** A model name that is not in NIC_MODELS. */
export class UnknownNicModelError extends Error {
  override readonly name = "UnknownNicModelError";
  constructor(readonly model: string) {
    super(`unknown NIC model "${model}"; known: ${Object.keys(NIC_MODELS).join(", ")}`);
  }
}

export function nicModel(name: string): NicModel {
  const m = NIC_MODELS[name];
  if (!m) throw new UnknownNicModelError(name);
  return m;
}

/** Largest power of 2 ≤ n (n ≥ 1). */
function floorPow2(n: number): number {
  return 1 << (31 - Math.clz32(n));
}

/**
 * Rings the model can use in a delivery mode: polling uses every ring; interrupts need a
 * vector per ring pair plus the status vector, rounded down to a power of 2.
 */
export function usableRings(model: NicModel, mode: NicMode): number {
  if (mode === NicMode.polling) return model.rings;
  return Math.max(1, floorPow2(Math.min(model.rings, model.msix - 1)));
}

export const NicMode = {
  /** Interrupt moderation: a ring's batch goes out after N frames or T µs. */
  interrupt: "interrupt",
  /** polling(4): each CPU polls its rings at pollhz with a burst limit. */
  polling: "polling",
} as const;
export type NicMode = (typeof NicMode)[keyof typeof NicMode];

export function parseNicMode(s: string): NicMode {
  if (s === NicMode.interrupt || s === NicMode.polling) return s;
  throw new NicModeError(s);
}

export class NicModeError extends Error {
  override readonly name = "NicModeError";
  constructor(readonly mode: string) {
    super(`NIC mode "${mode}" is neither "interrupt" nor "polling"`);
  }
}
