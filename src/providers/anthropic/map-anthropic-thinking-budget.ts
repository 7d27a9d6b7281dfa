import type { ReasoningConfig } from '../../core/canonical.ts';

/** Anthropic's smallest accepted `thinking.budget_tokens`. */
export const MIN_THINKING_BUDGET = 1024;

/** Budgets for OpenAI-style efforts (Anthropic takes a token budget, not an effort). */
export const EFFORT_BUDGETS = { low: 1024, medium: 4096, high: 16384 } as const;

/**
 * Canonical reasoning config -> the thinking budget to ask for, or undefined for
 * no extended thinking. An explicit budget wins over an effort. `minimal` means
 * as little reasoning as possible, which for Claude is thinking off. Gemini's
 * budget conventions are honoured: 0 is off, -1 is "let the model decide".
 */
export function mapAnthropicThinkingBudget(r: ReasoningConfig | undefined): number | undefined {
  if (!r || r.enabled === false) return undefined;
  if (r.budgetTokens !== undefined) {
    if (r.budgetTokens === 0) return undefined;
    if (r.budgetTokens > 0) return r.budgetTokens;
    return EFFORT_BUDGETS.medium;
  }
  switch (r.effort) {
    case 'minimal':
      return undefined;
    case 'low':
    case 'medium':
    case 'high':
      return EFFORT_BUDGETS[r.effort];
    case undefined:
      return r.enabled === true || r.includeThoughts === true ? EFFORT_BUDGETS.medium : undefined;
  }
}
