import type { StreamEvent, Usage } from '../../core/canonical.ts';
import type { StreamEncoder } from '../../core/codec.ts';
import { GatewayError } from '../../core/errors.ts';
import { encodeSse } from '../../core/sse.ts';
import type { OpenAIChatChunkOut, OpenAIChunkDelta, OpenAIFinishReason } from '../../wire/openai-chat.ts';
import { toOpenAIChatId } from './encode-openai-chat-completion.ts';
import { encodeOpenAIUsage } from './encode-openai-usage.ts';
import { encodeOpenAIStreamError } from './openai-error.ts';
import { mapToOpenAIFinishReason } from './map-to-openai-finish-reason.ts';

const DONE = 'data: [DONE]\n\n';

/**
 * Canonical stream events -> `chat.completion.chunk` SSE events, as OpenAI
 * sends them: a role chunk first, content / reasoning_content / tool_calls
 * deltas, a chunk with an empty delta and the finish_reason, then (when the
 * client asked with stream_options.include_usage) a usage chunk with no choices.
 */
export class OpenAIChatStreamEncoder implements StreamEncoder {
  private id: string;
  private created = 0;
  private started = false;
  private failed = false;
  /** Canonical block index -> OpenAI's 0-based tool call index. */
  private readonly toolIndexes = new Map<number, number>();

  constructor(private readonly ctx: { model: string; requestId: string; streamUsage: boolean }) {
    this.id = toOpenAIChatId('', ctx.requestId);
  }

  encode(event: StreamEvent): string {
    if (this.failed) return '';
    switch (event.type) {
      case 'start':
        if (this.started) return '';
        this.id = toOpenAIChatId(event.id, this.ctx.requestId);
        this.created = event.created;
        return this.begin();
      case 'text-delta':
        return event.delta ? this.ensureStarted() + this.chunk({ content: event.delta }) : '';
      case 'reasoning-delta':
        return event.delta ? this.ensureStarted() + this.chunk({ reasoning_content: event.delta }) : '';
      case 'tool-call-start': {
        const index = this.toolIndexes.size;
        this.toolIndexes.set(event.index, index);
        return (
          this.ensureStarted() +
          this.chunk({ tool_calls: [{ index, id: event.id, type: 'function', function: { name: event.name, arguments: '' } }] })
        );
      }
      case 'tool-call-delta': {
        const index = this.toolIndexes.get(event.index);
        if (index === undefined || !event.argumentsDelta) return '';
        return this.chunk({ tool_calls: [{ index, function: { arguments: event.argumentsDelta } }] });
      }
      case 'finish': {
        let out = this.ensureStarted() + this.chunk({}, mapToOpenAIFinishReason(event.finishReason));
        if (this.ctx.streamUsage && event.usage) out += this.usageChunk(event.usage);
        return out;
      }
      case 'error':
        return this.encodeError(
          new GatewayError('upstream_error', event.message, {
            status: event.status,
            type: event.errorType,
            publicCode: null,
          }),
        );
      default:
        // Block starts and ends, and reasoning signatures, have no OpenAI counterpart.
        return '';
    }
  }

  end(): string {
    return this.failed ? '' : DONE;
  }

  encodeError(err: GatewayError): string {
    this.failed = true;
    return encodeOpenAIStreamError(err);
  }

  private ensureStarted(): string {
    return this.started ? '' : this.begin();
  }

  private begin(): string {
    this.started = true;
    return this.chunk({ role: 'assistant', content: '' });
  }

  private chunk(delta: OpenAIChunkDelta, finishReason: OpenAIFinishReason | null = null): string {
    const chunk: OpenAIChatChunkOut = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.ctx.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    };
    if (this.ctx.streamUsage) chunk.usage = null;
    return encodeSse(JSON.stringify(chunk));
  }

  private usageChunk(usage: Usage): string {
    const chunk: OpenAIChatChunkOut = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.ctx.model,
      choices: [],
      usage: encodeOpenAIUsage(usage),
    };
    return encodeSse(JSON.stringify(chunk));
  }
}
