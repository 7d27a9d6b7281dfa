import { adapterTarget, type Credential, type Upstream } from '../../routing/upstreams.ts';
import { openAIChatEndpoint } from './openai-chat-endpoint.ts';

/** URL and headers of a chat completions call to a configured upstream (pass-through and adapters share one rule). */
export function openAIEndpoint(upstream: Upstream, upstreamModel: string, credential?: Credential): { url: string; headers: Record<string, string> } {
  return openAIChatEndpoint(upstream.type === 'azure' ? 'azure' : 'openai', adapterTarget(upstream, upstreamModel, credential));
}
