import { GatewayError } from '../../core/errors.ts';
import type { KeyState } from '../../metering/keys.ts';
import type { Target } from '../../routing/model-registry.ts';
import type { Services } from '../../services.ts';

/** May this key use this model? An allow-list may name the plain model or the pinned `upstream:model` form. */
export function keyAllowsModel(key: KeyState, requested: string, resolved: string): boolean {
  return key.models === null || key.models.has(requested) || key.models.has(resolved);
}

/**
 * Everything decided before a call goes upstream, in the order a caller can fix
 * them: model known (404), allowed (403), rate (429), quota (429).
 */
export function admit(services: Services, key: KeyState, model: string): Target[] {
  const targets = services.registry.resolve(model);
  if (!keyAllowsModel(key, model, targets[0].model)) {
    throw new GatewayError('model_not_allowed', `This API key is not allowed to use the model \`${model}\`.`, { param: 'model' });
  }
  if (key.rpm !== null) {
    const r = services.rateLimiter.take(key.id, key.rpm, services.now());
    if (!r.allowed) {
      throw new GatewayError('rate_limit_exceeded', `Rate limit reached: ${key.rpm} requests per minute for this key. Try again in ${r.retryAfterSeconds} s.`, {
        retryAfterSeconds: r.retryAfterSeconds,
      });
    }
  }
  services.keys.assertQuota(key);
  return targets;
}
