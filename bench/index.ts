/**
 * `npm run bench -- [options]`: the relay benchmark (bench/run.ts) by default;
 * `--streams` runs the slow-streams bench (bench/slow-streams.ts), `--soak`
 * the soak (bench/soak.ts) and `--batch` one large batch run by the gateway
 * (bench/batch.ts). Each reads its own options from the command line.
 */
const argv = process.argv.slice(2);
if (argv.includes('--batch')) await import('./batch.ts');
else if (argv.includes('--soak')) await import('./soak.ts');
else if (argv.includes('--streams')) await import('./slow-streams.ts');
else await import('./run.ts');
