/** Nearest-rank percentile (p in 0..100) of unsorted samples: p99 of 100 samples is the 99th smallest. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function median(samples: number[]): number {
  return percentile(samples, 50);
}

export function mean(samples: number[]): number {
  if (samples.length === 0) throw new Error('mean of no samples');
  return samples.reduce((a, b) => a + b, 0) / samples.length;
}
