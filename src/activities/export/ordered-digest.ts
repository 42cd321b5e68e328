/**
 * The SHA-256 of a whole export file (prefix, parts in order, suffix) computed while the lanes read,
 * so the publish need not read every part back to hash it. Lanes read parts side by side and finish
 * them out of order: the lane of the next part in file order feeds its bytes straight in; a lane ahead
 * of it keeps its part's bytes (the slabs it wrote, a few MB) until the parts before are in, up to
 * `maxHeld` bytes: past that (very wide rows) the digest gives up and the publish hashes the file. Only
 * an attempt that reads every part itself can know the digest; a resumed one leaves it to the publish.
 */
import { createHash } from 'node:crypto';
import type { PublishResult } from '../../storage/storage.js';

/** Bytes of one part kept until its turn: whole slabs, the last one filled to `filled`. */
interface Held {
  slabs: Buffer[];
  filled: number;
}

const HOLD_SLAB = 256 * 1024;

export class OrderedDigest {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  /** The next part, in file order, whose bytes the hash takes. */
  private next = 0;
  /** Bytes of parts after `next`, kept until their turn, and which of those parts are whole. */
  private readonly held = new Map<number, Held>();
  private readonly whole = new Set<number>();
  private heldBytes = 0;
  private gaveUp = false;
  /**
   * Slabs whose bytes the hash has taken, filled again by the next part held: fresh ArrayBuffers for
   * each part held would add to the external memory V8 answers with garbage collections. Never more
   * than were held at once.
   */
  private readonly spare: Buffer[] = [];

  constructor(
    prefix: Buffer,
    private readonly maxHeld = 64 * 1024 * 1024,
  ) {
    this.take(prefix);
  }

  private take(bytes: Buffer): void {
    this.hash.update(bytes);
    this.bytes += bytes.length;
  }

  /** A slab of part `index`, in the order the part's bytes go. */
  add(index: number, slab: Buffer): void {
    if (this.gaveUp) return;
    if (index === this.next) {
      this.take(slab);
      return;
    }
    this.heldBytes += slab.length;
    if (this.heldBytes > this.maxHeld) {
      this.gaveUp = true;
      this.held.clear();
      this.spare.length = 0;
      return;
    }
    // Copied into slabs of its own: a chunk can be a view of a larger buffer (a socket read's), which
    // keeping the chunk would keep whole.
    let held = this.held.get(index);
    if (!held) this.held.set(index, (held = { slabs: [], filled: HOLD_SLAB }));
    for (let at = 0; at < slab.length;) {
      if (held.filled === HOLD_SLAB) {
        held.slabs.push(this.spare.pop() ?? Buffer.allocUnsafeSlow(HOLD_SLAB));
        held.filled = 0;
      }
      const n = slab.copy(held.slabs.at(-1)!, held.filled, at);
      held.filled += n;
      at += n;
    }
  }

  /** Part `index` is whole: the parts after it that are whole already follow it into the hash. */
  finish(index: number): void {
    this.whole.add(index);
    while (this.whole.has(this.next)) {
      this.whole.delete(this.next);
      this.next++;
      const held = this.held.get(this.next);
      if (!held) continue;
      this.held.delete(this.next);
      held.slabs.forEach((slab, i) =>
        this.take(i === held.slabs.length - 1 ? slab.subarray(0, held.filled) : slab),
      );
      this.spare.push(...held.slabs);
      this.heldBytes -= (held.slabs.length - 1) * HOLD_SLAB + held.filled;
    }
  }

  /** The digest of the file once `parts` parts are in and `suffix` closes it; undefined if a part is missing. */
  result(parts: number, suffix: Buffer): PublishResult | undefined {
    if (this.gaveUp || this.next !== parts || this.held.size > 0) return undefined;
    this.take(suffix);
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}
