/**
 * The round trips of one target over one report period. The report is the
 * median of the period's samples (robust to one slow outlier, and the center
 * smooths across periods, so the agent does not smooth twice); null when
 * probes failed and none succeeded; undefined when nothing was tried.
 */
export class RttWindow {
  private samples: number[] = [];
  private failures = 0;

  sample(ms: number): void {
    this.samples.push(ms);
  }

  fail(): void {
    this.failures++;
  }

  /** The period's figure; starts the next period. */
  take(): number | null | undefined {
    const s = this.samples.sort((a, b) => a - b);
    const failed = this.failures > 0;
    this.samples = [];
    this.failures = 0;
    if (!s.length) return failed ? null : undefined;
    const mid = s.length >> 1;
    const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
    // Three decimals (microseconds) is more than the network can tell apart.
    return Math.round(median * 1000) / 1000;
  }
}
