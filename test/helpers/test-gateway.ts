import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp, closeApp } from '../../src/app.ts';
import { resolveAdminKey } from '../../src/bootstrap.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/logger.ts';
import { closeServices, createServices, type ServiceOptions, type Services } from '../../src/services.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';

export interface TestGateway {
  url: string;
  /** Base URL for OpenAI clients (`${url}/v1`). */
  baseURL: string;
  adminKey: string;
  app: FastifyInstance;
  services: Services;
  store: Store;
  /** Creates an API key through the admin API; returns the secret and the key's id. */
  createKey(body?: Record<string, unknown>): Promise<{ key: string; id: string }>;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  close(): Promise<void>;
}

/**
 * A real gateway on 127.0.0.1 with its own SQLite file (or the database URL given),
 * built from a raw config object exactly as a YAML file would give it.
 */
export async function startTestGateway(
  rawConfig: Record<string, unknown>,
  opts: { database?: string; services?: Partial<Pick<ServiceOptions, 'secretKey' | 'changePollMs' | 'redisPrefix'>>; log?: Logger } = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
  const adminKey = 'sk-admin-test-0123456789';
  const config = parseConfig(
    { database: opts.database ?? `sqlite:${join(dir, 'test.db')}`, admin_key: adminKey, log_level: 'warn', usage: { flush_interval_ms: 100 }, data_dir: join(dir, 'data'), ...rawConfig },
    'test',
  );
  const store = openStore(config.database);
  await migrateToLatest(store);
  const admin = await resolveAdminKey(config, store);
  const log = opts.log ?? createLogger(config.log_level);
  const services = createServices({ config, store, log, adminKeyHash: admin.hash, ...opts.services });
  const app = await buildApp(services);
  await services.start();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  const url = `http://127.0.0.1:${address.port}`;

  const adminCall = (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  return {
    url,
    baseURL: `${url}/v1`,
    adminKey,
    app,
    services,
    store,
    admin: adminCall,
    async createKey(body = {}) {
      const res = await adminCall('POST', '/admin/keys', { name: 'test', ...body });
      if (res.status !== 201) throw new Error(`create key failed: ${res.status} ${await res.text()}`);
      const json = (await res.json()) as { key: string; id: string };
      return { key: json.key, id: json.id };
    },
    async close() {
      await closeApp(app, 1000);
      await closeServices(services);
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
