import { z } from 'zod';
import { validateIpList } from '../core/ip-allow-list.ts';

/** `midjourney`: a Midjourney-proxy-compatible server (the /mj task API); it serves no chat models. */
export const UPSTREAM_TYPES = ['openai', 'azure', 'anthropic', 'gemini', 'midjourney'] as const;
export type UpstreamType = (typeof UPSTREAM_TYPES)[number];

/** `${VAR}` of an unset variable gives "" (or YAML null): both mean "not set". */
const optionalSecret = z
  .string()
  .nullish()
  .transform((v) => (v ? v : undefined));

/** Per-credential request and token limits, so the gateway spreads load before the provider answers 429. */
const rateLimitFields = {
  /** Requests per minute. */
  rpm: z.number().int().positive().optional(),
  /** Tokens (prompt + completion) per minute. */
  tpm: z.number().int().positive().optional(),
};

const credentialSchema = z.union([
  z.string().min(1),
  z.object({ key: z.string().min(1), ...rateLimitFields }).strict(),
]);

const retrySchema = z
  .object({
    /** Upstream calls per request (per model of the fallback chain); every candidate upstream gets at least one. */
    attempts: z.number().int().min(1).max(20).default(3),
    /** First backoff before calling an upstream again; doubles each time, with jitter. */
    backoff_ms: z.number().int().nonnegative().default(200),
    max_backoff_ms: z.number().int().nonnegative().default(5_000),
    /** A 429's retry-after is honoured up to this; longer waits move on (or fail) at once. */
    max_retry_after_ms: z.number().int().nonnegative().default(10_000),
  })
  .strict();

const upstreamRetrySchema = z
  .object({
    /** Calls to this upstream within one request. */
    attempts: z.number().int().min(1).max(20).optional(),
    backoff_ms: z.number().int().nonnegative().optional(),
  })
  .strict();

const breakerSchema = z
  .object({
    /** Consecutive failures that open the breaker. */
    failures: z.number().int().min(1).default(5),
    /** How long an open breaker waits before one probe request. */
    cooldown_ms: z.number().int().positive().default(30_000),
  })
  .strict();

export const upstreamSchema = z
  .object({
    name: z.string().min(1).regex(/^[^:\s]+$/, 'must not contain ":" or spaces'),
    type: z.enum(UPSTREAM_TYPES),
    base_url: z.string().url(),
    /** An unset `${VAR}` leaves this empty: treated as no key. */
    api_key: optionalSecret,
    /** Several credentials used in turn, each with its own health and limits. */
    api_keys: z.array(credentialSchema).optional(),
    /** Models this upstream serves (client-facing names). Absent: discovered at start-up where the API allows. */
    models: z.array(z.string().min(1)).optional(),
    /** Client-facing name -> upstream model name. */
    model_map: z.record(z.string(), z.string().min(1)).default({}),
    /** Older name of first_byte_timeout. */
    timeout: z.number().positive().optional(),
    /** Seconds to open a connection. */
    connect_timeout: z.number().positive().default(10),
    /** Seconds until the answer starts (reasoning models can think for minutes). */
    first_byte_timeout: z.number().positive().optional(),
    /** Seconds of silence allowed between stream events (and body chunks). */
    idle_timeout: z.number().positive().default(300),
    /** Lower tiers are tried first; the next tier only when a whole tier is down or failed. */
    priority: z.number().int().default(0),
    /** Share of traffic among the upstreams of one tier. */
    weight: z.number().nonnegative().default(1),
    retry: upstreamRetrySchema.optional(),
    breaker: breakerSchema.partial().optional(),
    /** Seconds of upstream silence after which an SSE comment keeps the client's connection alive. */
    stream_keepalive: z.number().positive().optional(),
    /** false: configured but not routed to. */
    enabled: z.boolean().default(true),
    /**
     * How /v1/responses reaches an OpenAI-compatible upstream: `native` passes it through to the
     * upstream's own /responses; `chat` translates to chat completions. Default: native for
     * api.openai.com and Azure, chat for every other server.
     */
    responses: z.enum(['native', 'chat']).optional(),
    ...rateLimitFields,
    /** Extra headers sent on every call (e.g. OpenRouter's HTTP-Referer). */
    headers: z.record(z.string(), z.string()).default({}),
    /** Azure: api-version query parameter. */
    api_version: z.string().optional(),
    /** Maximum concurrent connections to this upstream. */
    max_connections: z.number().int().positive().default(256),
  })
  .strict();

const modelInfoSchema = z
  .object({
    input_price: z.number().nonnegative().optional(),
    output_price: z.number().nonnegative().optional(),
    /** Price of prompt tokens served from the provider's cache; defaults to input_price. */
    cached_input_price: z.number().nonnegative().optional(),
    context_window: z.number().int().positive().optional(),
    /**
     * USD per image: one price, or per size ("1024x1024") and optionally per quality and size
     * ("hd:1024x1024"); "default" covers sizes not listed.
     */
    image_price: z.union([z.number().nonnegative(), z.record(z.string(), z.number().nonnegative())]).optional(),
    /** USD per million characters of text turned into speech (/v1/audio/speech). */
    character_price: z.number().nonnegative().optional(),
    /** USD per minute of audio transcribed or translated. */
    minute_price: z.number().nonnegative().optional(),
    /** USD per call: one Midjourney task for the mj_* names (mj_imagine, mj_action, ...). */
    price: z.number().nonnegative().optional(),
  })
  .strict();

const filesSchema = z
  .object({
    /** Where file bytes are kept; default `<data_dir>/files`. */
    dir: z.string().min(1).optional(),
    /** Largest upload to /v1/files. */
    max_upload_mb: z.number().positive().default(100),
    /** Uploads expire this long after they were made unless `expires_after` says otherwise. */
    default_ttl_seconds: z.number().int().positive().default(3600),
    /** Batch output and error files expire this long after their batch ended. */
    output_ttl_seconds: z.number().int().positive().default(10_800),
    /** How often expired files and batches are removed. */
    sweep_interval_seconds: z.number().positive().default(60),
  })
  .strict();

const batchSchema = z
  .object({
    /** Lines running at once, all batches together (per instance). */
    max_concurrency: z.number().int().positive().default(16),
    /** Lines running at once for one batch (per instance). */
    per_batch_concurrency: z.number().int().positive().default(8),
    /** Cost of batch lines relative to interactive calls (providers discount batches). */
    price_factor: z.number().nonnegative().default(0.5),
    /** Share of each upstream's rpm/tpm that batch lines may use, leaving the rest for interactive traffic. */
    upstream_share: z.number().positive().max(1).default(0.5),
    /** Tries per line on 429 and 5xx before it goes to the error file. */
    max_attempts: z.number().int().positive().default(3),
    /** First wait before a line is tried again (doubles each time). */
    retry_backoff_ms: z.number().int().nonnegative().default(1000),
    /** What `completion_window: 24h` means here, in seconds (shorter for tests). */
    window_seconds: z.number().int().positive().default(86_400),
    /** Batches (and their files) are removed this long after they ended. */
    retention_seconds: z.number().int().positive().default(86_400),
    /** Most lines in one input file, as OpenAI's 50,000. */
    max_lines: z.number().int().positive().default(50_000),
    /** How often the runner looks for work. */
    poll_ms: z.number().int().positive().default(500),
    /** How long an instance's claim on a line (and lease on a batch) lasts without renewal: a killed instance's work is taken over after this. */
    claim_seconds: z.number().positive().default(60),
  })
  .strict();

const midjourneySchema = z
  .object({
    /** How often unfinished Midjourney tasks are polled at their upstream. */
    poll_interval_ms: z.number().int().positive().default(3000),
    /** Task ids per list-by-condition call. */
    poll_batch: z.number().int().positive().max(500).default(20),
    /** A task not finished this long after its submit fails (and its charge is refunded). */
    task_timeout_minutes: z.number().positive().default(60),
  })
  .strict();

const metricsSchema = z
  .object({
    /** GET /metrics (Prometheus text format). */
    enabled: z.boolean().default(true),
    /** `host:port` of a separate listener serving only /metrics, without the admin key; absent: /metrics on the main port behind the admin key. */
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port')
      .optional(),
  })
  .strict();

/** OpenTelemetry traces over OTLP/HTTP; nothing of OpenTelemetry is loaded without an endpoint. */
const otelSchema = z
  .object({
    /** OTLP/HTTP traces URL (http://collector:4318/v1/traces); an unset `${VAR}` means off. */
    endpoint: z
      .string()
      .nullish()
      .transform((v) => (v ? v : undefined))
      .refine((v) => v === undefined || (URL.canParse(v) && /^https?:$/.test(new URL(v).protocol)), 'must be an http:// or https:// URL'),
    /** Sent with every export (a vendor's auth header); never logged. */
    headers: z.record(z.string(), z.string()).default({}),
    service_name: z.string().min(1).default('switchyard'),
    /** Prompt and completion text in spans (as events, truncated); off: none. */
    capture_content: z.boolean().default(false),
    /** Share of traces kept when the request carries no sampled parent. */
    sample_ratio: z.number().min(0).max(1).default(1),
    /** Each upstream call carries its attempt's traceparent (and the caller's tracestate); off: upstreams get none. */
    propagate_upstream: z.boolean().default(true),
  })
  .strict();

const conversationsSchema = z
  .object({
    /** Model of a conversation whose first turn names none; without it such a turn is a 400. */
    default_model: z.string().min(1).optional(),
    /** A conversation is removed this long after its last turn. */
    ttl_hours: z.number().positive().default(48),
    /** `id` of the event that follows a stream's `data: [DONE]` (relays differ in what they call it). */
    trailer_id: z.string().min(1).default('conversationInfo'),
    /** Most turns a conversation keeps, the new one included (older turns are dropped first). */
    max_turns: z.number().int().positive().optional(),
  })
  .strict();

const groupSchema = z
  .object({
    /** Multiplies every price of the models table for the group's users. */
    price_factor: z.number().nonnegative().default(1),
    /** The models the group's users may call (plain or upstream:model names); absent: all. */
    models: z.array(z.string().min(1)).optional(),
    description: z.string().optional(),
  })
  .strict();

const accountsSchema = z
  .object({
    /** Who may make a portal account: nobody (admins make users), holders of an invite code, anyone. */
    signup: z.enum(['closed', 'invite', 'open']).default('closed'),
    /** The group a new user joins. */
    default_group: z.string().min(1).default('default'),
    /** Balance a user gets when signing up, in USD. */
    signup_balance_usd: z.number().nonnegative().default(0),
    /** Whether GET /v1/pricing answers without a key or session. */
    pricing_public: z.boolean().default(true),
    /** How long a portal session lasts. */
    session_ttl_hours: z.number().positive().default(168),
    /** Failed sign-ins tolerated in the window, per account and per client address, before 429. */
    signin_max_failures_per_account: z.number().int().positive().default(5),
    signin_max_failures_per_ip: z.number().int().positive().default(20),
    signin_window_seconds: z.number().int().positive().default(900),
    min_password_length: z.number().int().min(6).default(8),
    /** Keys a user may make in the portal. */
    max_keys_per_user: z.number().int().positive().default(50),
  })
  .strict();

export const configSchema = z
  .object({
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080 }),
    database: z
      .string()
      .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, 'must start with sqlite: or postgres://')
      .default('sqlite:./data/switchyard.db'),
    admin_key: optionalSecret,
    upstreams: z.array(upstreamSchema).default([]),
    models: z.record(z.string(), modelInfoSchema).default({}),
    limits: z
      .object({
        max_body_mb: z.number().positive().default(32),
        /** Completion tokens reserved for a request that names no max_tokens. */
        default_max_tokens: z.number().int().positive().default(4096),
        /** Largest multipart upload (audio, images), as OpenAI's 25 MB. */
        max_upload_mb: z.number().positive().default(25),
      })
      .strict()
      .default({ max_body_mb: 32, default_max_tokens: 4096, max_upload_mb: 25 }),
    retry: retrySchema.default({ attempts: 3, backoff_ms: 200, max_backoff_ms: 5_000, max_retry_after_ms: 10_000 }),
    breaker: breakerSchema.default({ failures: 5, cooldown_ms: 30_000 }),
    /** Model -> models tried in order when every upstream of the first failed. */
    fallbacks: z.record(z.string(), z.array(z.string().min(1))).default({}),
    /** redis://...: shared counters, reservations and change notices for several instances. */
    redis: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .nullish()
      .transform((v) => (v ? v : undefined)),
    /** Proxies whose X-Forwarded-For is believed (CIDR list). */
    trusted_proxies: z.array(z.string()).default([]),
    /** Where the gateway keeps its files (generated secret key, usage journal). */
    data_dir: z.string().default('./data'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** One structured access line per request (no secrets, no prompt text). */
    log_requests: z.boolean().default(false),
    /** V8's old-generation growth between full GCs, in percent of what survived; 0 leaves V8's own factor (which goes up to 4x). */
    heap_growing_percent: z.number().int().min(0).max(1000).default(50),
    /** How long a dashboard sign-in (POST /admin/session) lasts. */
    admin_session_ttl_minutes: z.number().positive().default(720),
    metrics: metricsSchema.default(metricsSchema.parse({})),
    otel: otelSchema.default(otelSchema.parse({})),
    usage: z
      .object({
        /** How often buffered usage records are written, in milliseconds. */
        flush_interval_ms: z.number().int().positive().default(200),
        flush_batch_size: z.number().int().positive().default(500),
        /** Records kept in memory while the database is unreachable; beyond this they go to the journal file. */
        max_buffered: z.number().int().positive().default(20_000),
      })
      .strict()
      .default({ flush_interval_ms: 200, flush_batch_size: 500, max_buffered: 20_000 }),
    files: filesSchema.default(filesSchema.parse({})),
    batch: batchSchema.default(batchSchema.parse({})),
    conversations: conversationsSchema.default(conversationsSchema.parse({})),
    midjourney: midjourneySchema.default(midjourneySchema.parse({})),
    accounts: accountsSchema.default(accountsSchema.parse({})),
    /** User groups (merged with those made through /admin/groups; the file's win on a name both have). */
    groups: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only'), groupSchema).default({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const badProxy = validateIpList(cfg.trusted_proxies);
    if (badProxy !== undefined) ctx.addIssue({ code: 'custom', path: ['trusted_proxies'], message: `"${badProxy}" is not an IP address or CIDR range` });
    const seen = new Set<string>();
    cfg.upstreams.forEach((u, i) => {
      if (seen.has(u.name)) {
        ctx.addIssue({ code: 'custom', path: ['upstreams', i, 'name'], message: `duplicate upstream name "${u.name}"` });
      }
      seen.add(u.name);
      if (u.type === 'midjourney' && (u.models !== undefined || Object.keys(u.model_map).length > 0)) {
        ctx.addIssue({ code: 'custom', path: ['upstreams', i, 'models'], message: 'a midjourney upstream serves the /mj task API, not models: remove models and model_map' });
      }
    });
  });

export type Config = z.infer<typeof configSchema>;
export type UpstreamConfig = Config['upstreams'][number];
export type ModelInfo = z.infer<typeof modelInfoSchema>;
export type CredentialConfig = z.infer<typeof credentialSchema>;
export type BreakerConfig = z.infer<typeof breakerSchema>;
export type GroupConfig = z.infer<typeof groupSchema>;
