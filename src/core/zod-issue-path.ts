import type { z } from 'zod';

/**
 * A union (string or parts array) reports at the field itself; the branch that got
 * furthest (the array's element) says what is actually wrong.
 */
export function innermostIssue(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[]): { issue: z.core.$ZodIssue; path: PropertyKey[] } {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union') return { issue, path };
  let best: z.core.$ZodIssue | undefined;
  for (const branch of issue.errors) {
    const candidate = branch[0];
    if (candidate && candidate.path.length > (best?.path.length ?? 0)) best = candidate;
  }
  return best ? innermostIssue(best, path) : { issue, path };
}

/** The value at a zod issue's path in the body, or undefined when the path leaves it. */
export function valueAtPath(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}
