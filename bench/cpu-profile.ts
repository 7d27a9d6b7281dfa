/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function
 * and per area (a src/ file, a package, Node internals, GC), as a share of the
 * time the process was busy (idle samples left out).
 *
 * Also runnable on its own: node --import tsx bench/cpu-profile.ts FILE [TOP]
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame lives, shortened: `src/core/sse.ts`, `fastify/lib/reply.js`, `node:internal/...`. */
function shortUrl(url: string, root: string): string {
  if (!url) return '';
  let u = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = u.lastIndexOf('/node_modules/');
  if (nm !== -1) return u.slice(nm + '/node_modules/'.length);
  if (u.startsWith(`${root}/`)) u = u.slice(root.length + 1);
  return u;
}

/** `file:line`; the project's own .ts files are compiled by tsx, so their line numbers are not the source's and are left out. */
function place(url: string, lineNumber: number, root: string): string {
  const s = shortUrl(url, root);
  return s.endsWith('.ts') ? s : `${s}:${lineNumber + 1}`;
}

/** The area a frame is charged to: a src/ file, a package name, Node internals or a V8 pseudo-frame. */
function area(url: string, fn: string, root: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native / V8 builtins)';
  const s = shortUrl(url, root);
  if (s.startsWith('node:')) return 'node: internals';
  if (s.startsWith('src/') || s.startsWith('dist/') || s.startsWith('bench/')) return s;
  if (url.includes('/node_modules/')) {
    const parts = s.split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  return s;
}

export function summariseCpuProfile(json: string, root: string, top = 25): string {
  const p = JSON.parse(json) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the gap before sample i; charge each sample with the gap that follows it, as DevTools does.
  for (let i = 0; i < p.samples.length; i++) {
    const dt = i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1] : 0;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + Math.max(0, dt));
  }

  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const name = functionName || '(anonymous)';
    const where = url ? ` ${place(url, lineNumber, root)}` : '';
    const key = `${name}${where}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = area(url, name, root);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const busy = total - idle;

  // Inclusive ("total") time of the project's own functions: a function's self time plus everything it called,
  // each stack counted once per function even when it recurses.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n) break;
      const { functionName, url, lineNumber } = n.callFrame;
      const short = shortUrl(url, root);
      if (!short.startsWith('src/') && !short.startsWith('dist/')) continue;
      const key = `${functionName || '(anonymous)'} ${place(url, lineNumber, root)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const pct = (us: number): string => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const lines: string[] = [];
  lines.push(`busy ${(busy / 1000).toFixed(0)} ms of ${((p.endTime - p.startTime) / 1000).toFixed(0)} ms profiled (idle left out)`);
  lines.push('', 'Self time by area:');
  for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 20)) lines.push(`  ${pct(us)} ${ms(us)}  ${a}`);
  lines.push('', `Top ${top} functions by self time:`);
  for (const [f, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)} ${ms(us)}  ${f}`);
  lines.push('', `Top ${top} project functions (src/ or built dist/) by total time (self + callees):`);
  for (const [f, us] of [...inclusive].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)} ${ms(us)}  ${f}`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/cpu-profile.ts FILE.cpuprofile [TOP]\n');
    process.exit(1);
  }
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  process.stdout.write(`${summariseCpuProfile(readFileSync(file, 'utf8'), root, top ? Number(top) : 25)}\n`);
}
