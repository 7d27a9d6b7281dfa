import type { IngressCodec } from '../../core/codec.ts';
import { encodeAnthropicError } from './anthropic-error.ts';
import { AnthropicStreamEncoder } from './anthropic-stream-encoder.ts';
import { decodeAnthropicRequest } from './decode-anthropic-request.ts';
import { encodeAnthropicMessage } from './encode-anthropic-message.ts';

/** The Anthropic Messages wire format, for routes whose upstream speaks another protocol. */
export const anthropicCodec: IngressCodec = {
  protocol: 'anthropic',
  decodeRequest: decodeAnthropicRequest,
  encodeResult: encodeAnthropicMessage,
  createStreamEncoder: (ctx) => new AnthropicStreamEncoder(ctx),
  encodeError: (err) => ({ status: err.status, body: encodeAnthropicError(err) }),
};
