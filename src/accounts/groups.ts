import type { Config, GroupConfig } from '../config/schema.ts';
import { GatewayError } from '../core/errors.ts';
import type { Store } from '../store/db.ts';
import { UserGroupsRepository } from '../store/user-groups.repository.ts';

export interface GroupView {
  name: string;
  object: 'group';
  price_factor: number;
  models: string[] | null;
  description: string | null;
  /** config: defined in the config file (read-only here); database: made through /admin/groups; builtin: the implicit default. */
  source: 'config' | 'database' | 'builtin';
}

export interface GroupInput {
  price_factor: number;
  models?: string[] | null;
  description?: string | null;
}

/**
 * User groups: those of the config file, those made through the admin API, and an implicit
 * `default` (factor 1, every model) unless one of them defines it. Kept in memory: the request
 * path reads a group's factor and models without waiting on the database.
 */
export class GroupService {
  private readonly repo: UserGroupsRepository;
  private stored = new Map<string, GroupView>();
  onChange: () => void = () => undefined;

  constructor(
    private readonly config: Pick<Config, 'groups'>,
    store: Store,
    private readonly now: () => number = Date.now,
  ) {
    this.repo = new UserGroupsRepository(store);
  }

  async reload(): Promise<void> {
    const rows = await this.repo.list();
    this.stored = new Map(
      rows.map((r) => [
        r.name,
        { name: r.name, object: 'group', price_factor: Number(r.price_factor), models: r.models ? (JSON.parse(r.models) as string[]) : null, description: r.description, source: 'database' },
      ]),
    );
  }

  private fromConfig(name: string, g: GroupConfig): GroupView {
    return { name, object: 'group', price_factor: g.price_factor, models: g.models ?? null, description: g.description ?? null, source: 'config' };
  }

  get(name: string): GroupView | undefined {
    const c = this.config.groups[name];
    if (c) return this.fromConfig(name, c);
    const s = this.stored.get(name);
    if (s) return s;
    if (name === 'default') return { name: 'default', object: 'group', price_factor: 1, models: null, description: null, source: 'builtin' };
    return undefined;
  }

  /** A user's group; one that was removed since counts as default's terms, never as free. */
  resolve(name: string): GroupView {
    return this.get(name) ?? this.get('default') ?? { name: 'default', object: 'group', price_factor: 1, models: null, description: null, source: 'builtin' };
  }

  list(): GroupView[] {
    const names = new Set<string>(['default', ...Object.keys(this.config.groups), ...this.stored.keys()]);
    return [...names].sort().map((n) => this.resolve(n));
  }

  async upsert(name: string, input: GroupInput): Promise<GroupView> {
    if (this.config.groups[name]) throw new GatewayError('conflict', `Group '${name}' is defined in the config file; change it there.`, { param: 'name', publicCode: 'conflict' });
    const at = this.now();
    await this.repo.upsert({ name, price_factor: input.price_factor, models: input.models ? JSON.stringify(input.models) : null, description: input.description ?? null, created_at: at, updated_at: at });
    await this.reload();
    this.onChange();
    return this.resolve(name);
  }

  async delete(name: string, inUse: number): Promise<boolean> {
    if (this.config.groups[name]) throw new GatewayError('conflict', `Group '${name}' is defined in the config file; remove it there.`, { param: 'name', publicCode: 'conflict' });
    if (inUse > 0) throw new GatewayError('conflict', `Group '${name}' still has ${inUse} user(s); move them to another group first.`, { param: 'name', publicCode: 'conflict' });
    const ok = await this.repo.delete(name);
    if (ok) {
      await this.reload();
      this.onChange();
    }
    return ok;
  }
}
