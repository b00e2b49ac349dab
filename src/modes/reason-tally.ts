/** Repeated reasons counted in the order first seen: `2 x Conv: …; 1 x Add: …`, for warnings about a whole model. */
export function tallyReasons(reasons: readonly string[]): string {
  const counts = new Map<string, number>()
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1)
  return [...counts].map(([reason, n]) => `${n} x ${reason}`).join('; ')
}
