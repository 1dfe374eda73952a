/**
 * The expiry sweeper (servers without TTL indexes) deletes on a timer, whatever the requests do: tests that count
 * a request's database commands leave its deletes out.
 */
export function isExpirySweep(command: Record<string, unknown>): boolean {
  const deletes = command['deletes'];
  if (!Array.isArray(deletes) || deletes.length !== 1) return false;
  const query = (deletes[0] as { q?: Record<string, unknown> }).q ?? {};
  const keys = Object.keys(query);
  return keys.length === 1 && typeof query[keys[0] ?? ''] === 'object' && '$lte' in (query[keys[0] ?? ''] as object);
}
