import type { UserService } from '../accounts/users.ts';
import { ApiKeysRepository } from '../store/api-keys.repository.ts';
import { LedgerRepository } from '../store/ledger.repository.ts';
import { UsersRepository } from '../store/users.repository.ts';
import type { Store } from '../store/db.ts';
import { UsageRecordsRepository } from '../store/usage-records.repository.ts';
import { COUNTER_SUFFIX } from './admission.ts';
import type { KeyService } from './keys.ts';
import type { Limiter } from './limiter.ts';
import type { UsageRecorder } from './usage-recorder.ts';

export interface ChargeReversalDeps {
  store: Store;
  recorder: UsageRecorder;
  keys: KeyService;
  limiter: Limiter;
  /** The users whose balances get refunds (absent where no key has a user). */
  users?: Pick<UserService, 'uncharge'>;
}

export interface ReversalResult {
  /** false while some of the records are not written yet (buffered on another instance): try again later. */
  complete: boolean;
  usd: number;
  tokens: number;
}

/**
 * Takes back charges made earlier (a Midjourney task that failed after its submit was
 * charged): each usage record becomes recorded-only (`charged = 0`, the error code says
 * why) and its cost leaves the key's used figures, in one transaction. A record already
 * reversed is left alone, so running this again, on any instance, never refunds twice;
 * /v1/usage totals and the key's used_usd are then exactly what a request that was never
 * charged would have left.
 */
export async function reverseCharges(deps: ChargeReversalDeps, keyId: string, requestIds: readonly string[], errorCode: string): Promise<ReversalResult> {
  // Records still buffered on this instance are written first, so they can be found.
  await deps.recorder.flush();
  let usd = 0;
  let tokens = 0;
  let missing = 0;
  let userRefunds = new Map<string, number>();
  await deps.store.db.transaction().execute(async (trx) => {
    const txStore: Store = { ...deps.store, db: trx };
    const usage = new UsageRecordsRepository(txStore);
    usd = 0;
    tokens = 0;
    missing = 0;
    userRefunds = new Map();
    const at = Date.now();
    for (const id of requestIds) {
      const r = await usage.uncharge(id, keyId, errorCode);
      if (r === 'missing') missing++;
      else if (r !== 'already') {
        usd += Number(r.cost_usd);
        tokens += Number(r.total_tokens);
        if (r.user_id && Number(r.cost_usd) > 0) {
          userRefunds.set(r.user_id, (userRefunds.get(r.user_id) ?? 0) + Number(r.cost_usd));
          // The user's balance gets it back, with a ledger row per refunded request.
          await new UsersRepository(txStore).addSpend(r.user_id, -Number(r.cost_usd));
          await new LedgerRepository(txStore).add({ entryKey: `refund:${id}`, userId: r.user_id, kind: 'refund', amountUsd: Number(r.cost_usd), ref: id, note: errorCode, actor: 'system', at });
        }
      }
    }
    if (usd !== 0 || tokens !== 0) await new ApiKeysRepository(txStore).subtractUsage(keyId, tokens, usd);
  });
  for (const [userId, amount] of userRefunds) {
    deps.users?.uncharge(userId, amount);
    await deps.limiter.adjustQuota(`user:${userId}${COUNTER_SUFFIX.quotaUsd}`, -amount);
  }
  if (usd !== 0 || tokens !== 0) {
    deps.keys.uncharge(keyId, tokens, usd);
    await deps.limiter.adjustQuota(`key:${keyId}${COUNTER_SUFFIX.quotaUsd}`, -usd);
    await deps.limiter.adjustQuota(`key:${keyId}${COUNTER_SUFFIX.quotaTokens}`, -tokens);
  }
  return { complete: missing === 0, usd, tokens };
}
