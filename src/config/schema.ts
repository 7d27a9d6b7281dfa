import { z } from 'zod';

export const UPSTREAM_TYPES = ['openai', 'azure', 'anthropic', 'gemini'] as const;
export type UpstreamType = (typeof UPSTREAM_TYPES)[number];

/** `${VAR}` of an unset variable gives "" (or YAML null): both mean "not set". */
const optionalSecret = z
  .string()
  .nullish()
  .transform((v) => (v ? v : undefined));

const upstreamSchema = z
  .object({
    name: z.string().min(1).regex(/^[^:\s]+$/, 'must not contain ":" or spaces'),
    type: z.enum(UPSTREAM_TYPES),
    base_url: z.string().url(),
    /** An unset `${VAR}` leaves this empty: treated as no key. */
    api_key: optionalSecret,
    /** Models this upstream serves (client-facing names). Absent: discovered at start-up where the API allows. */
    models: z.array(z.string().min(1)).optional(),
    /** Client-facing name -> upstream model name. */
    model_map: z.record(z.string(), z.string().min(1)).default({}),
    /** Seconds before the call ends with 504. */
    timeout: z.number().positive().default(600),
    /** Share of traffic among upstreams serving the same model. */
    weight: z.number().nonnegative().default(1),
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
      .object({ max_body_mb: z.number().positive().default(32) })
      .strict()
      .default({ max_body_mb: 32 }),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    usage: z
      .object({
        /** How often buffered usage records are written, in milliseconds. */
        flush_interval_ms: z.number().int().positive().default(200),
        flush_batch_size: z.number().int().positive().default(500),
      })
      .strict()
      .default({ flush_interval_ms: 200, flush_batch_size: 500 }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.upstreams.forEach((u, i) => {
      if (seen.has(u.name)) {
        ctx.addIssue({ code: 'custom', path: ['upstreams', i, 'name'], message: `duplicate upstream name "${u.name}"` });
      }
      seen.add(u.name);
    });
  });

export type Config = z.infer<typeof configSchema>;
export type UpstreamConfig = Config['upstreams'][number];
export type ModelInfo = z.infer<typeof modelInfoSchema>;
