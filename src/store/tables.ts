import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Times are unix milliseconds; booleans are 0/1 so SQLite and PostgreSQL read the same. */
export interface ApiKeysTable {
  id: string;
  name: string;
  key_hash: string;
  key_prefix: string;
  quota_tokens: number | null;
  quota_usd: number | null;
  used_tokens: Generated<number>;
  used_usd: Generated<number>;
  expires_at: number | null;
  /** JSON array of allowed client-facing model names, or null for all. */
  models: string | null;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
  /** JSON array of CIDR ranges, or null for any address. */
  allowed_ips: string | null;
  disabled: Generated<number>;
  deleted_at: number | null;
  created_at: number;
  updated_at: number;
  last_used_at: number | null;
  /** The user who owns the key, or null for a key an admin made for no one. */
  user_id: Generated<string | null>;
}

export interface UsageRecordsTable {
  request_id: string;
  key_id: string | null;
  endpoint: string;
  model: string;
  upstream: string | null;
  upstream_model: string | null;
  stream: number;
  status: number;
  error_code: string | null;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  cost_usd: number;
  /** 1 when the gateway counted the tokens itself. */
  estimated: number;
  /** 1 when the record was charged to the key's quota. */
  charged: number;
  latency_ms: number;
  ttft_ms: number | null;
  created_at: number;
  /** Upstream calls made for the request (retries and failover included). */
  attempts: Generated<number>;
  /** The model the client asked for, when a fallback model answered. */
  requested_model: string | null;
  /** What the request was metered in besides tokens: tokens, images, characters, seconds. */
  unit: Generated<string>;
  /** How many of `unit` (0 for token-metered calls). */
  quantity: Generated<number>;
  /** The key's user at the time of the request, if any. */
  user_id: Generated<string | null>;
}

export interface FilesTable {
  id: string;
  key_id: string;
  filename: string;
  purpose: string;
  bytes: number;
  status: string;
  created_at: number;
  expires_at: number | null;
}

export interface BatchesTable {
  id: string;
  key_id: string;
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  errors_json: string | null;
  metadata_json: string | null;
  created_at: number;
  expires_at: number;
  in_progress_at: number | null;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_total: Generated<number>;
  request_completed: Generated<number>;
  request_failed: Generated<number>;
  input_tokens: Generated<number>;
  cached_tokens: Generated<number>;
  output_tokens: Generated<number>;
  reasoning_tokens: Generated<number>;
  lease_owner: string | null;
  lease_until: number | null;
}

export interface BatchLinesTable {
  batch_id: string;
  line_no: number;
  custom_id: string;
  offset: number;
  length: number;
  status: string;
  claimed_by: string | null;
  claimed_until: number | null;
  attempts: Generated<number>;
  result_json: string | null;
}

export interface StoredResponsesTable {
  id: string;
  key_id: string;
  previous_response_id: string | null;
  input_json: string;
  response_json: string;
  created_at: number;
}

export interface ConversationsTable {
  id: string;
  key_id: string;
  model: string;
  system: string | null;
  messages_json: string;
  version: number;
  created_at: number;
  updated_at: number;
  expires_at: number;
  lease_owner: string | null;
  lease_until: number | null;
}

export interface MjTasksTable {
  id: string;
  key_id: string;
  upstream: string;
  upstream_task_id: string;
  submit: string;
  mode: string | null;
  action: string;
  status: string;
  task_json: string | null;
  image_url: string | null;
  charges_json: string;
  active: number;
  refund_due: Generated<number>;
  created_at: number;
  updated_at: number;
  submitted_at: number;
  next_poll_at: number;
  lease_owner: string | null;
  lease_until: number | null;
}

export interface UpstreamsTable {
  name: string;
  source: 'config' | 'api';
  config_json: string | null;
  credentials_enc: string | null;
  disabled: number;
  created_at: number;
  updated_at: number;
}

export interface ChangeCounterTable {
  id: number;
  value: number;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface UsersTable {
  id: string;
  email: string;
  display_name: string;
  password_hash: string | null;
  group_name: string;
  /** active | disabled */
  status: string;
  credited_usd: Generated<number>;
  spent_usd: Generated<number>;
  created_at: number;
  updated_at: number;
  last_sign_in_at: number | null;
  deleted_at: number | null;
}

export interface UserGroupsTable {
  name: string;
  price_factor: number;
  models: string | null;
  description: string | null;
  created_at: number;
  updated_at: number;
}

export interface InvitesTable {
  id: string;
  code_hash: string;
  code_prefix: string;
  note: string | null;
  created_at: number;
  expires_at: number | null;
  used_at: number | null;
  used_by: string | null;
}

export interface RedemptionCodesTable {
  id: string;
  code_hash: string;
  code_prefix: string;
  name: string;
  amount_usd: number;
  created_at: number;
  expires_at: number | null;
  disabled: Generated<number>;
  redeemed_at: number | null;
  redeemed_by: string | null;
}

export interface LedgerEntriesTable {
  entry_key: string;
  user_id: string;
  kind: string;
  amount_usd: number;
  requests: Generated<number>;
  ref: string | null;
  note: string | null;
  actor: string | null;
  created_at: number;
  updated_at: number;
}

export interface SessionsTable {
  token_hash: string;
  kind: string;
  subject: string;
  created_at: number;
  expires_at: number;
}

export interface AuditLogTable {
  id: string;
  at: number;
  actor: string;
  actor_ip: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  status: number;
  detail: string | null;
}

export interface Database {
  api_keys: ApiKeysTable;
  usage_records: UsageRecordsTable;
  settings: SettingsTable;
  upstreams: UpstreamsTable;
  change_counter: ChangeCounterTable;
  stored_responses: StoredResponsesTable;
  files: FilesTable;
  batches: BatchesTable;
  batch_lines: BatchLinesTable;
  conversations: ConversationsTable;
  mj_tasks: MjTasksTable;
  users: UsersTable;
  user_groups: UserGroupsTable;
  invites: InvitesTable;
  redemption_codes: RedemptionCodesTable;
  ledger_entries: LedgerEntriesTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
}

export type ApiKeyRow = Selectable<ApiKeysTable>;
export type NewApiKeyRow = Insertable<ApiKeysTable>;
export type ApiKeyUpdate = Updateable<ApiKeysTable>;
export type UsageRecordRow = Selectable<UsageRecordsTable>;
export type NewUsageRecord = Insertable<UsageRecordsTable>;
export type UpstreamRow = Selectable<UpstreamsTable>;
export type StoredResponseRow = Selectable<StoredResponsesTable>;
export type FileRow = Selectable<FilesTable>;
export type BatchRow = Selectable<BatchesTable>;
export type BatchLineRow = Selectable<BatchLinesTable>;
export type ConversationRow = Selectable<ConversationsTable>;
export type MjTaskRow = Selectable<MjTasksTable>;
export type UserRow = Selectable<UsersTable>;
export type UserGroupRow = Selectable<UserGroupsTable>;
export type InviteRow = Selectable<InvitesTable>;
export type RedemptionCodeRow = Selectable<RedemptionCodesTable>;
export type LedgerEntryRow = Selectable<LedgerEntriesTable>;
export type AuditLogRow = Selectable<AuditLogTable>;
