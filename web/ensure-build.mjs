#!/usr/bin/env node
// Builds the dashboard (web/dist) when it is missing or older than its sources; otherwise does
// nothing. Run by the root package's `prepare` (so `npm install` / `npm ci` builds it), by
// `npm run build` (so `npm start` serves it) and by the browser tests. `--force` always builds.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = dirname(fileURLToPath(import.meta.url));
const built = join(web, 'dist', 'index.html');
const SOURCES = ['src', 'public', 'index.html', 'vite.config.ts', 'tsconfig.json', 'package.json'];

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

export function needsBuild() {
  if (!existsSync(built)) return true;
  const at = statSync(built).mtimeMs;
  return SOURCES.some((s) => newest(join(web, s)) > at);
}

export function buildDashboard() {
  // tsc type-checks the app, then vite writes dist/ (see web/package.json).
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['run', 'build', '--silent'], { cwd: web, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`building the dashboard failed (exit ${r.status ?? r.signal})`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--force') || needsBuild()) {
    console.error('Building the dashboard (web/dist)...');
    try {
      buildDashboard();
    } catch (err) {
      console.error(err.message);
      process.exit(1);
    }
  }
}
