/** A small seeded PRNG (mulberry32) so randomized tests repeat exactly. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(n: number, seed: number): Uint8Array {
  const rnd = seeded(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rnd() * 256);
  return out;
}

/**
 * Printable text and line feeds, as most receipts are: no byte of it reads
 * as a status query (ESC/POS DLE EOT), so what an emulator printed (--out)
 * is these bytes exactly, with a bridge's status polls between them left out.
 */
export function receiptText(n: number, seed: number): Uint8Array {
  const bytes = randomBytes(n, seed);
  for (let i = 0; i < n; i++) bytes[i] = i % 48 === 47 ? 0x0a : 0x20 + ((bytes[i] ?? 0) % 95);
  return bytes;
}
