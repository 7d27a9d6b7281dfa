import type { ImageSource } from '../../core/canonical.ts';
import { GatewayError } from '../../core/errors.ts';

/**
 * An OpenAI image URL (http(s) or `data:`) -> canonical image source. Data URLs
 * become base64 so upstreams that take only inline bytes (Anthropic, Gemini) can
 * send them. Shared by the chat and Responses decoders.
 */
export function decodeOpenAIImageUrl(url: string, param: string): ImageSource {
  if (!url.startsWith('data:')) return { kind: 'url', url };
  const comma = url.indexOf(',');
  if (comma === -1) throw invalidImage(param);
  const meta = url.slice(5, comma).split(';');
  const mediaType = meta[0] || 'text/plain';
  const payload = url.slice(comma + 1);
  if (meta.includes('base64')) return { kind: 'base64', mediaType, data: payload };
  try {
    return { kind: 'base64', mediaType, data: Buffer.from(decodeURIComponent(payload), 'utf8').toString('base64') };
  } catch {
    throw invalidImage(param);
  }
}

function invalidImage(param: string): GatewayError {
  return new GatewayError('invalid_request_error', "Invalid image URL: expected an http(s) URL or a 'data:' URL.", { param, publicCode: 'invalid_image_url' });
}
