/**
 * The one-time pre-keys a device uploaded, as the server keeps them: handed out once each,
 * oldest first. Stored packed (ids in one array, keys in one buffer per upload) because a
 * benchmark links ~1000 devices with 812 keys each, and a Buffer object per key would cost
 * the sandbox ~100 MB.
 */
export class PreKeyPool {
  private batches: Array<{ ids: Uint32Array; keys: Buffer; next: number }> = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(entries: Array<{ id: number; key: Uint8Array }>): void {
    // A re-upload of an id replaces the older key (the server's store is keyed by id); the old
    // entry becomes a tombstone, id 0, which clients never use.
    const fresh = new Set(entries.map((e) => e.id));
    for (const batch of this.batches) {
      for (let i = batch.next; i < batch.ids.length; i++) {
        if (fresh.has(batch.ids[i] ?? 0)) {
          batch.ids[i] = 0;
          this.count--;
        }
      }
    }
    if (entries.length === 0) return;
    this.batches.push({
      ids: Uint32Array.from(entries, (e) => e.id),
      keys: Buffer.concat(entries.map((e) => e.key)),
      next: 0,
    });
    this.count += entries.length;
  }

  take(): { keyId: number; publicKey: Buffer } | undefined {
    for (;;) {
      const batch = this.batches[0];
      if (!batch) return undefined;
      const i = batch.next++;
      if (batch.next >= batch.ids.length) this.batches.shift();
      const keyId = batch.ids[i] ?? 0;
      if (keyId === 0) continue;
      this.count--;
      return { keyId, publicKey: Buffer.from(batch.keys.subarray(i * 32, i * 32 + 32)) };
    }
  }
}
