import type { IngressCodec } from '../../core/codec.ts';
import { decodeOpenAIChatRequest } from './decode-openai-chat-request.ts';
import { encodeOpenAIChatCompletion } from './encode-openai-chat-completion.ts';
import { OpenAIChatStreamEncoder } from './openai-chat-stream-encoder.ts';
import { encodeOpenAIError } from './openai-error.ts';

/** The OpenAI Chat Completions wire format, for routes whose upstream speaks another protocol. */
export const openAICodec: IngressCodec = {
  protocol: 'openai',
  decodeRequest: decodeOpenAIChatRequest,
  encodeResult: encodeOpenAIChatCompletion,
  createStreamEncoder: (ctx) => new OpenAIChatStreamEncoder(ctx),
  encodeError: (err) => ({ status: err.status, body: encodeOpenAIError(err) }),
};
