/**
 * At most `size` holders at once; the others wait their turn, first come first served. The
 * device host uses it so that hundreds of devices starting together (a restart after kill -9)
 * take turns for the CPU-heavy part — setting up their sessions — instead of all at once on two
 * cores while the sessions already up starve.
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`slots: size must be ≥ 1, got ${size}`);
    this.free = size;
  }

  /** Resolves when a slot is free, with the function that gives it back (calling it twice is harmless). */
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }

  /** Holders waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }
}
