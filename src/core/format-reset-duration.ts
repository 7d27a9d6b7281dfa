/**
 * Formats a wait as OpenAI's `x-ratelimit-reset-requests` / `-tokens` headers
 * do: Go duration strings (`120ms`, `8.64s`, `6m0s`, `1h2m3s`). Clients and
 * SDKs that parse OpenAI's headers then read ours unchanged.
 *
 * Every step rounds up: telling a client to come back a little late costs it a
 * moment, telling it to come back early costs it another 429.
 */
export function formatResetDuration(ms: number): string {
  // NaN and Infinity are bugs upstream of here; a header must still be valid.
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  const wholeMs = Math.ceil(ms);
  if (wholeMs < 1000) return `${wholeMs}ms`;
  if (wholeMs < 60_000) {
    // Whole ms over 1000 has at most 3 decimals, so toFixed(3) only pads.
    return `${trimZeros((wholeMs / 1000).toFixed(3))}s`;
  }
  const totalSeconds = Math.ceil(wholeMs / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return hours > 0 ? `${hours}h${minutes}m${seconds}s` : `${minutes}m${seconds}s`;
}

function trimZeros(fixed: string): string {
  return fixed.replace(/\.?0+$/, '');
}
