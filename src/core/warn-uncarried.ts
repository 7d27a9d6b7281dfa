import type { Warning } from './canonical.ts';

/**
 * Warnings for client fields that are set but cannot cross to another format:
 * a cross-format call says so instead of dropping them silently.
 */
export function warnUncarried(body: Record<string, unknown>, fields: Readonly<Record<string, string>>): Warning[] {
  const out: Warning[] = [];
  for (const [field, why] of Object.entries(fields)) {
    const v = body[field];
    if (v !== undefined && v !== null && v !== false) out.push({ param: field, message: why });
  }
  return out;
}

/** Collects warnings, one per distinct parameter, so a long history does not repeat the same one. */
export class WarningSink {
  readonly list: Warning[] = [];
  private readonly seen = new Set<string>();

  add(param: string, message: string): void {
    if (this.seen.has(param)) return;
    this.seen.add(param);
    this.list.push({ param, message });
  }
}
