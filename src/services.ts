import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config/schema.ts';
import { type IpMatcher, parseIpList } from './core/ip-allow-list.ts';
import { loadSecretKey, SecretBox } from './core/secret-box.ts';
import { ChangeWatcher } from './jobs/change-watcher.ts';
import { FileSweeper } from './jobs/file-sweeper.ts';
import { deleteFile } from './store/stored-files.ts';
import { KeyService, type KeyState } from './metering/keys.ts';
import { Limiter } from './metering/limiter.ts';
import { RedisLimitBackend } from './metering/redis-limit-backend.ts';
import { type MeterDeps, RequestMeter } from './metering/request-meter.ts';
import { UsageRecorder } from './metering/usage-recorder.ts';
import type { ModelRegistry } from './routing/model-registry.ts';
import { UpstreamSet } from './routing/upstream-set.ts';
import type { Upstream } from './routing/upstreams.ts';
import type { Store } from './store/db.ts';
import { openRedis } from './store/redis.ts';
import { StoredResponsesRepository } from './store/stored-responses.repository.ts';
import { type FileStorage, LocalFileStorage } from './store/file-storage.ts';
import { FilesRepository } from './store/files.repository.ts';
import { BatchesRepository } from './store/batches.repository.ts';
import { BatchRunner } from './jobs/batch-runner.ts';
import { MjPoller } from './jobs/mj-poller.ts';
import { MjTasksRepository } from './store/mj-tasks.repository.ts';
import { ConversationLocks } from './store/conversation-locks.ts';
import { ConversationsRepository } from './store/conversations.repository.ts';
import { GroupService } from './accounts/groups.ts';
import { SessionService } from './accounts/sessions.ts';
import { SignInThrottle } from './accounts/signin-throttle.ts';
import { UserService } from './accounts/users.ts';
import { AuditLog } from './accounts/audit-log.ts';
import { InvitesRepository } from './store/invites.repository.ts';
import { RedemptionCodesRepository } from './store/redemption-codes.repository.ts';
import { RedisConversationStore } from './store/redis-conversation-store.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { MetricsServer } from './observability/metrics-server.ts';
import { loadTracing, type RequestTracing, withTracing } from './observability/tracing.ts';
import { upstreamAvailable } from './routing/upstreams.ts';

/** switchyard_upstream_breaker_state's values. */
const BREAKER_LEVELS = { closed: 0, half_open: 1, open: 2, disabled: 3 } as const;

/** Everything the routes need, built once per app; tests build their own. */
export interface Services {
  config: Config;
  store: Store;
  log: Logger;
  now: () => number;
  upstreamSet: UpstreamSet;
  /** The live upstreams and their registry (rebuilt when upstreams change at run time). */
  readonly upstreams: readonly Upstream[];
  readonly registry: ModelRegistry;
  keys: KeyService;
  recorder: UsageRecorder;
  limiter: Limiter;
  redis: Redis | undefined;
  changes: ChangeWatcher;
  trustedProxies: IpMatcher | undefined;
  /** Hash of the admin key, or undefined when admin routes are closed. */
  adminKeyHash: string | undefined;
  /** Responses stored for GET /v1/responses/{id} and previous_response_id. */
  responses: StoredResponsesRepository;
  /** Authenticates requests the gateway injects itself (batch lines); random per process, never sent anywhere. */
  internalToken: string;
  batches: BatchesRepository;
  /** Runs batches; its executor (the app's inject) is set by buildApp. */
  batchRunner: BatchRunner;
  /** File metadata (the database) and bytes (the storage). */
  files: FilesRepository;
  fileStorage: FileStorage;
  /** Removes expired files (and, through its extra sweeps, whatever else expires on its schedule). */
  fileSweeper: FileSweeper;
  /** Midjourney tasks (the gateway's ids mapped to the upstreams') and the job that polls them. */
  mjTasks: MjTasksRepository;
  mjPoller: MjPoller;
  /** Server-kept chat conversations (POST /v1/chat/conversation): in Redis when one is configured, else the database. */
  conversations: ConversationLocks;
  /** Relay customers: users with balances, their groups, portal sessions, sign-in throttling, codes and invites. */
  users: UserService;
  groups: GroupService;
  sessions: SessionService;
  signInThrottle: SignInThrottle;
  redemptionCodes: RedemptionCodesRepository;
  invites: InvitesRepository;
  /** Admin actions (who changed what). */
  audit: AuditLog;
  /** Prometheus metrics (GET /metrics), unless `metrics.enabled` is false. */
  metrics: GatewayMetrics | undefined;
  /** The listener of `metrics.listen`, when configured (started with the services). */
  metricsServer: MetricsServer | undefined;
  /** OpenTelemetry traces, when `otel.endpoint` is set (loaded by start(); undefined until then). */
  tracing: RequestTracing | undefined;
  newMeter(requestId: string, key: KeyState | null, endpoint: string, model: string, stream: boolean): RequestMeter;
  /** Loads stored upstreams and starts the background work (usage flushes, change polling). */
  start(): Promise<void>;
}

export interface ServiceOptions {
  config: Config;
  store: Store;
  log: Logger;
  adminKeyHash: string | undefined;
  now?: () => number;
  /** SWITCHYARD_SECRET_KEY (defaults to the environment's). */
  secretKey?: string;
  /** How often the database's change counter is polled. */
  changePollMs?: number;
  /** Prefix of every Redis key (tests share one server). */
  redisPrefix?: string;
}

export function createServices(opts: ServiceOptions): Services {
  const { config, store, log } = opts;
  const now = opts.now ?? Date.now;
  const dataDir = resolve(config.data_dir);
  const recorder = new UsageRecorder(store, log, {
    intervalMs: config.usage.flush_interval_ms,
    batchSize: config.usage.flush_batch_size,
    maxBuffered: config.usage.max_buffered,
    journalPath: join(dataDir, 'usage-journal.ndjson'),
  });
  const keys = new KeyService(recorder.keysRepository, recorder, now);
  const groups = new GroupService(config, store, now);
  const users = new UserService({ store, groups, pendingSpend: (id) => recorder.pendingUserSpend(id), now });
  keys.userOf = (id) => users.state(id);
  keys.prefetchUsers = (ids) => users.prefetch(ids);
  const sessions = new SessionService(store, now);
  const redis = config.redis ? openRedis(config.redis, log) : undefined;
  const prefix = opts.redisPrefix ?? 'switchyard:';
  const limiter = new Limiter(
    log,
    redis && {
      backend: new RedisLimitBackend(redis, prefix),
      ready: () => redis.status === 'ready',
      onReady: (fn) => redis.on('ready', fn),
    },
  );
  let box: SecretBox | undefined;
  const sealer = {
    encrypt: (plain: string): string => requireBox().encrypt(plain),
    decrypt: (sealed: string): string => requireBox().decrypt(sealed),
  };
  const requireBox = (): SecretBox => {
    if (!box) throw new Error('the secret key is not loaded yet');
    return box;
  };
  const upstreamSet = new UpstreamSet(config.upstreams, config.breaker, store, sealer, log, now);
  const changes = new ChangeWatcher(
    store,
    log,
    async () => {
      const accounts = async (): Promise<void> => {
        await groups.reload();
        await users.refreshAll();
      };
      await Promise.allSettled([keys.refreshAll(), upstreamSet.reload(), accounts()]);
    },
    { pollMs: opts.changePollMs ?? 1000, redis, channel: `${prefix}changes` },
  );
  keys.onChange = () => void changes.notify();
  upstreamSet.onChange = () => void changes.notify();
  users.onChange = () => void changes.notify();
  groups.onChange = () => void changes.notify();
  const metrics = config.metrics.enabled
    ? new GatewayMetrics({
        usageBacklog: () => recorder.backlog,
        upstreams: () =>
          upstreamSet.upstreams.map((u) => {
            const state = u.breaker.state(now());
            return { name: u.name, breaker: BREAKER_LEVELS[state], up: upstreamAvailable(u, now()), calls: u.stats.totalCalls, errors: u.stats.totalErrors };
          }),
        activeBatches: async () =>
          (await batches.active()).map((b) => ({ id: b.id, status: b.status, total: Number(b.request_total), completed: Number(b.request_completed), failed: Number(b.request_failed) })),
      })
    : undefined;
  const meterDeps: MeterDeps = { recorder, keys, limiter, prices: config.models, log, now, metrics };
  const files = new FilesRepository(store);
  const fileStorage = new LocalFileStorage(resolve(config.files.dir ?? join(dataDir, 'files')));
  const batches = new BatchesRepository(store);
  const internalToken = randomBytes(32).toString('hex');
  const batchRunner = new BatchRunner({ config, batches, files, fileStorage, keys, registry: () => upstreamSet.registry, log, now, internalToken });
  // Ended batches are removed with their files once their retention passed.
  const sweepBatches = async (at: number): Promise<void> => {
    for (const b of await batches.endedBefore(at - config.batch.retention_seconds * 1000)) {
      for (const id of [b.output_file_id, b.error_file_id]) if (id) await deleteFile({ files, fileStorage, now, log }, id);
      await batches.delete(b.id);
    }
  };
  const mjTasks = new MjTasksRepository(store);
  const mjPoller = new MjPoller({
    config: config.midjourney,
    tasks: mjTasks,
    upstream: (name) => upstreamSet.get(name),
    reversal: { store, recorder, keys, limiter, users },
    log,
    now,
  });
  const conversations = new ConversationLocks(redis ? new RedisConversationStore(redis, prefix) : new ConversationsRepository(store), {
    ttlMs: config.conversations.ttl_hours * 3_600_000,
    now,
    log,
  });
  const fileSweeper = new FileSweeper({ files, fileStorage, now, log }, { intervalMs: config.files.sweep_interval_seconds * 1000, extraSweeps: [sweepBatches, (at) => conversations.store.sweep(at), async () => void (await sessions.sweep())] });
  return {
    config,
    store,
    log,
    now,
    upstreamSet,
    get upstreams() {
      return upstreamSet.upstreams;
    },
    get registry() {
      return upstreamSet.registry;
    },
    keys,
    recorder,
    limiter,
    redis,
    changes,
    trustedProxies: config.trusted_proxies.length ? parseIpList(config.trusted_proxies, 'trusted_proxies') : undefined,
    adminKeyHash: opts.adminKeyHash,
    responses: new StoredResponsesRepository(store),
    internalToken,
    batches,
    batchRunner,
    files,
    fileStorage,
    fileSweeper,
    mjTasks,
    mjPoller,
    conversations,
    users,
    groups,
    sessions,
    signInThrottle: new SignInThrottle(config.accounts, redis, prefix, now),
    redemptionCodes: new RedemptionCodesRepository(store),
    invites: new InvitesRepository(store),
    audit: new AuditLog(store, log, now),
    metrics,
    metricsServer: metrics && config.metrics.listen ? new MetricsServer(metrics, config.metrics.listen, log) : undefined,
    tracing: undefined,
    newMeter: (requestId, key, endpoint, model, stream) => new RequestMeter(meterDeps, requestId, key, endpoint, model, stream),
    async start() {
      const otelEndpoint = config.otel.endpoint;
      if (otelEndpoint) {
        // Imported only here: without an endpoint no OpenTelemetry module is loaded.
        this.tracing = await loadTracing({ ...config.otel, endpoint: otelEndpoint }, log);
        meterDeps.metrics = withTracing(metrics, this.tracing);
      }
      const secret = loadSecretKey({ env: opts.secretKey ?? process.env.SWITCHYARD_SECRET_KEY, dataDir });
      box = new SecretBox(secret.key);
      if (secret.source === 'generated') {
        log.info({ path: secret.path }, 'generated the secret key that encrypts upstream credentials; several instances need the same SWITCHYARD_SECRET_KEY');
      }
      await recorder.start();
      await groups.reload().catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'could not read user groups; using the configured ones'));
      try {
        await upstreamSet.reload();
      } catch (err) {
        log.error({ err: { message: (err as Error).message } }, 'could not read stored upstreams; serving the configured ones');
      }
      await changes.start();
      fileSweeper.start();
      batchRunner.start();
      mjPoller.start();
      await this.metricsServer?.start();
    },
  };
}

export async function closeServices(s: Services): Promise<void> {
  await s.metricsServer?.stop();
  await s.batchRunner.stop();
  await s.mjPoller.stop();
  await s.fileSweeper.stop();
  await s.changes.stop();
  await s.recorder.stop();
  // After the last usage record: that is where request spans end.
  await s.tracing?.shutdown();
  await Promise.all(s.upstreams.map((u) => u.dispatcher.close().catch(() => undefined)));
  if (s.redis) s.redis.disconnect();
}
