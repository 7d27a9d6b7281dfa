const SIZE = 256;
const WINDOW_MS = 5 * 60_000;

/** The last few hundred calls to an upstream, for the admin API's error rate and latency. */
export class UpstreamStats {
  private readonly at = new Float64Array(SIZE);
  private readonly latency = new Float64Array(SIZE);
  private readonly ok = new Uint8Array(SIZE);
  private next = 0;
  private count = 0;
  lastError: { at: number; code: string; status: number } | undefined;
  /** Calls and failed calls since the upstream was loaded (for /metrics-style totals). */
  totalCalls = 0;
  totalErrors = 0;

  add(now: number, latencyMs: number, ok: boolean): void {
    this.totalCalls++;
    if (!ok) this.totalErrors++;
    this.at[this.next] = now;
    this.latency[this.next] = latencyMs;
    this.ok[this.next] = ok ? 1 : 0;
    this.next = (this.next + 1) % SIZE;
    if (this.count < SIZE) this.count++;
  }

  /** Calls, error rate and latency percentiles over the last five minutes. */
  summary(now: number): {
    requests: number;
    errors: number;
    error_rate: number;
    latency_avg_ms: number | null;
    latency_p50_ms: number | null;
    latency_p95_ms: number | null;
    total_requests: number;
    total_errors: number;
  } {
    const lat: number[] = [];
    let errors = 0;
    for (let i = 0; i < this.count; i++) {
      if (now - this.at[i] > WINDOW_MS) continue;
      if (this.ok[i]) lat.push(this.latency[i]);
      else errors++;
    }
    const requests = lat.length + errors;
    lat.sort((a, b) => a - b);
    const pct = (p: number): number | null => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]) : null);
    let sum = 0;
    for (const l of lat) sum += l;
    return {
      requests,
      errors,
      error_rate: requests ? Math.round((errors / requests) * 1000) / 1000 : 0,
      latency_avg_ms: lat.length ? Math.round(sum / lat.length) : null,
      latency_p50_ms: pct(0.5),
      latency_p95_ms: pct(0.95),
      total_requests: this.totalCalls,
      total_errors: this.totalErrors,
    };
  }
}
