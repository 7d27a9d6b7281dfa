import type { UpstreamType } from '../config/schema.ts';
import type { UpstreamAdapter } from '../core/codec.ts';
import { anthropicAdapter } from './anthropic/anthropic-adapter.ts';
import { geminiAdapter } from './gemini/gemini-adapter.ts';
import { azureAdapter, openAIAdapter } from './openai/openai-adapter.ts';

/** The wire protocol each upstream type speaks; same protocol on both sides means pass-through. */
export type WireProtocol = 'openai' | 'anthropic' | 'gemini' | 'midjourney';

export function protocolOf(type: UpstreamType): WireProtocol {
  switch (type) {
    case 'openai':
    case 'azure':
      return 'openai';
    case 'anthropic':
      return 'anthropic';
    case 'gemini':
      return 'gemini';
    case 'midjourney':
      return 'midjourney';
  }
}

/** Upstream adapters for cross-format traffic, by upstream type (none for midjourney: it serves only the /mj task API). */
export const ADAPTERS: Partial<Record<UpstreamType, UpstreamAdapter>> = {
  openai: openAIAdapter,
  azure: azureAdapter,
  anthropic: anthropicAdapter,
  gemini: geminiAdapter,
};
