/**
 * A 32-bit hash of a key (FNV-1a, then the murmur3 finaliser so every bit depends on every input bit): the seed of
 * the engine's deterministic draws, so reruns and resumes of a debate draw the same.
 */
export function seedOf(key: string): number {
  let value = 2166136261;
  for (let index = 0; index < key.length; index++) {
    value ^= key.charCodeAt(index);
    value = Math.imul(value, 16777619);
  }
  value ^= value >>> 16;
  value = Math.imul(value, 0x85ebca6b);
  value ^= value >>> 13;
  value = Math.imul(value, 0xc2b2ae35);
  value ^= value >>> 16;
  return value >>> 0;
}

/** A copy of `items` in an order drawn from `key` (Fisher-Yates over a mulberry32 stream seeded with `seedOf(key)`). */
export function seededShuffle<T>(items: readonly T[], key: string): T[] {
  const shuffled = [...items];
  let state = seedOf(key);
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
  for (let index = shuffled.length - 1; index > 0; index--) {
    const other = Math.floor(next() * (index + 1));
    [shuffled[index], shuffled[other]] = [shuffled[other] as T, shuffled[index] as T];
  }
  return shuffled;
}
