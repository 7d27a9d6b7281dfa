import { setFlagsFromString } from 'node:v8';

const FLAG = /--heap[-_]growing[-_]percent(=|\s|$)/;

/**
 * How far V8 lets the old generation grow past what survived the last full GC before it
 * collects again. V8's own factor rises to 4x when the GC is cheap beside the program, so a
 * gateway with ~40 MiB live and a steady stream of requests that live long enough to be
 * promoted (batch lines, streams) carried 170 MiB of old space between collections (see
 * docs/performance.md, "Batches"). A fixed factor bounds that headroom; it is not a cap:
 * the heap still grows as far as the live data needs.
 *
 * An explicit `--heap-growing-percent` in node's arguments or NODE_OPTIONS wins; 0 leaves
 * V8's own heuristic. Returns the flag set, if any.
 */
export function applyHeapGrowth(percent: number, execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS'] ?? ''): string | undefined {
  if (percent <= 0 || execArgv.some((a) => FLAG.test(a)) || FLAG.test(nodeOptions)) return undefined;
  const flag = `--heap-growing-percent=${percent}`;
  setFlagsFromString(flag);
  return flag;
}
