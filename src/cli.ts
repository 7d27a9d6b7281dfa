import { parseArgs } from 'node:util';
import { detectLocalOllama, discoverModels, resolveAdminKey } from './bootstrap.ts';
import { ConfigError, loadConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { warmTokenizer } from './core/tokens.ts';
import { buildApp, closeApp } from './app.ts';
import { applyHeapGrowth } from './heap-growth.ts';
import { createLogger } from './logger.ts';
import { KeyService } from './metering/keys.ts';
import { UsageRecorder } from './metering/usage-recorder.ts';
import { closeServices, createServices, type Services } from './services.ts';
import { openStore, type Store } from './store/db.ts';
import { ChangeCounterRepository } from './store/change-counter.repository.ts';
import { migrateToLatest } from './store/migrate.ts';
import { parseKeyCreate } from './routes/admin/key-input.ts';

const USAGE = `usage: switchyard <command> [--config FILE]

commands:
  serve                      start the gateway (npm start)
  migrate                    apply database migrations and exit
  keys create --name NAME [--quota-tokens N] [--quota-usd USD] [--expires-at ISO|UNIX]
              [--models a,b] [--rpm N] [--tpm N] [--max-concurrency N] [--allowed-ips CIDR,CIDR]
                             create an API key; prints the secret on a line of its own
  keys list                  list API keys (never their secrets)
  keys revoke ID             revoke an API key
`;

async function openMigrated(config: Config): Promise<Store> {
  const store = openStore(config.database);
  await migrateToLatest(store);
  return store;
}

/** Loads the tokenizer now if a stored key or a configured upstream has token limits (keys loaded later warm it themselves). */
async function warmTokenizerIfNeeded(services: Services): Promise<void> {
  const upstreamTpm = services.upstreams.some((u) => u.config.tpm !== undefined || (u.config.api_keys ?? []).some((c) => typeof c !== 'string' && c.tpm !== undefined));
  if (upstreamTpm || (await services.recorder.keysRepository.anyCounting().catch(() => true))) warmTokenizer();
}

async function serve(argv: string[]): Promise<void> {
  const { path, config } = loadConfig(argv, process.env);
  const log = createLogger(config.log_level);
  applyHeapGrowth(config.heap_growing_percent);
  if (!path) {
    const ollama = await detectLocalOllama(log);
    if (ollama) config.upstreams.push(ollama);
  }
  await discoverModels(config.upstreams, log);
  const store = await openMigrated(config);
  const admin = await resolveAdminKey(config, store);
  if (admin.generated) {
    // Printed once, to the terminal only (never to the structured log); only its hash is kept.
    process.stdout.write(`\nGenerated admin key (shown once, store it now):\n${admin.generated}\n\n`);
  }
  const services = createServices({ config, store, log, adminKeyHash: admin.hash });
  const app = await buildApp(services);
  await services.start();
  await app.listen({ host: config.listen.host, port: config.listen.port });
  // After listen, in the background, when something will count tokens: the first reservation should not wait ~0.4 s for the tokenizer.
  setImmediate(() => void warmTokenizerIfNeeded(services));
  const address = app.server.address();
  const url = address && typeof address === 'object' ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  log.info(
    { url, config: path ?? 'built-in defaults', database: config.database.startsWith('sqlite:') ? config.database : 'postgres', upstreams: config.upstreams.map((u) => u.name) },
    'switchyard ready',
  );
  if (config.upstreams.length === 0) {
    log.warn('no upstreams configured: set OPENAI_API_KEY (and OPENAI_BASE_URL) or write a switchyard.yaml');
  }

  /** How long in-flight streams may take to finish on SIGTERM before their connections are cut. */
  const DRAIN_MS = 30_000;
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining in-flight requests');
    try {
      await closeApp(app, DRAIN_MS);
      await closeServices(services);
      await store.close();
      log.info('stopped cleanly');
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'unclean shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

async function keysCommand(argv: string[]): Promise<void> {
  const [verb, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      name: { type: 'string' },
      'quota-tokens': { type: 'string' },
      'quota-usd': { type: 'string' },
      'expires-at': { type: 'string' },
      models: { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'max-concurrency': { type: 'string' },
      'allowed-ips': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const { config } = loadConfig(values.config ? ['--config', values.config] : [], process.env);
  const store = await openMigrated(config);
  const log = createLogger('warn');
  const recorder = new UsageRecorder(store, log, { intervalMs: 1000, batchSize: 100 });
  const keys = new KeyService(recorder.keysRepository, recorder);
  // Running gateways poll this counter and reload their cached keys within a second or two.
  let changed = false;
  keys.onChange = () => {
    changed = true;
  };
  try {
    if (verb === 'create') {
      const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
      const input = parseKeyCreate({
        name: values.name,
        quota_tokens: num(values['quota-tokens']),
        quota_usd: num(values['quota-usd']),
        expires_at: values['expires-at'],
        models: values.models ? values.models.split(',').map((m) => m.trim()).filter(Boolean) : undefined,
        rpm: num(values.rpm),
        tpm: num(values.tpm),
        max_concurrency: num(values['max-concurrency']),
        allowed_ips: values['allowed-ips'] ? values['allowed-ips'].split(',').map((m) => m.trim()).filter(Boolean) : undefined,
      });
      const { view, secret } = await keys.create(input);
      if (values.json) process.stdout.write(`${JSON.stringify({ ...view, key: secret })}\n`);
      else process.stdout.write(`created key ${view.id} (${view.name})\n${secret}\n`);
    } else if (verb === 'list') {
      const list = await keys.list();
      if (values.json) process.stdout.write(`${JSON.stringify(list)}\n`);
      else for (const k of list) process.stdout.write(`${k.id}\t${k.name}\t${k.key_prefix}\t${k.status}\tused ${k.used_tokens} tokens\n`);
    } else if (verb === 'revoke' || verb === 'delete') {
      const id = positionals[0];
      if (!id || !(await keys.delete(id))) throw new ConfigError(`no key with id ${id ?? '(missing)'}`);
      process.stdout.write(`revoked ${id}\n`);
    } else {
      throw new ConfigError(USAGE);
    }
    if (changed) await new ChangeCounterRepository(store).bump();
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const [command = 'serve', ...rest] = process.argv.slice(2);
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'migrate': {
      const { config } = loadConfig(rest, process.env);
      const store = openStore(config.database);
      const applied = await migrateToLatest(store);
      await store.close();
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
      return;
    }
    case 'keys':
      return keysCommand(rest);
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      // `npm start -- --config FILE` arrives here as serve's own flags.
      if (command.startsWith('--')) return serve([command, ...rest]);
      throw new ConfigError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`switchyard: ${err.message}\n`);
  } else {
    process.stderr.write(`switchyard: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
