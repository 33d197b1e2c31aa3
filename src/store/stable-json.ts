/**
 * JSON with object keys sorted at every depth, so equal values give equal text (and equal hashes) whatever
 * order their keys were built in. `undefined` object members are dropped as JSON does; `undefined` array
 * elements become `null`; non-finite numbers are refused because JSON would silently turn them into `null`.
 */
export function stableJson(value: unknown): string {
  const text = JSON.stringify(value, (key, inner: unknown) => {
    if (typeof inner === 'number' && !Number.isFinite(inner)) {
      throw new TypeError(`stableJson: ${String(inner)} at key "${key}" has no JSON form`);
    }
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      const entries = Object.entries(inner as Record<string, unknown>);
      entries.sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
      return Object.fromEntries(entries);
    }
    return inner;
  });
  // JSON.stringify(undefined) is undefined: give a top-level undefined the text of an absent value.
  return text ?? 'null';
}
