import type { z } from 'zod';
import { GatewayError } from '../../core/errors.ts';

/**
 * A zod issue in a Responses request -> OpenAI's own error wording, with `param`
 * in OpenAI's path notation (`input[2].content[0].text`). `prefix` is where the
 * parsed value sits in the body; `value` is that value, to tell a missing field
 * from a wrong one.
 */
export function issueToResponsesError(first: z.core.$ZodIssue | undefined, prefix: readonly PropertyKey[], value: unknown): GatewayError {
  const { issue, path } = first ? innermost(first, []) : { issue: undefined, path: [] };
  const param = formatParam([...prefix, ...path]);
  const found = valueAt(value, path);
  if (found === undefined) {
    return new GatewayError('missing_field', `Missing required parameter: '${param}'.`, { param, publicCode: 'missing_required_parameter' });
  }
  if (issue?.code === 'invalid_type') {
    return new GatewayError('invalid_request_error', `Invalid type for '${param}': expected ${article(issue.expected)}, but got ${jsonType(found)} instead.`, {
      param,
      publicCode: 'invalid_type',
    });
  }
  const supported = issue?.code === 'invalid_value' ? issue.values : issue?.code === 'invalid_union' && 'options' in issue ? issue.options : undefined;
  if (supported && supported.length > 0) {
    const list = supported.map((v) => `'${String(v)}'`).join(', ');
    return new GatewayError('invalid_request_error', `Invalid value: '${String(found)}'. Supported values are: ${list}.`, { param, publicCode: 'invalid_value' });
  }
  // A union none of whose branches took the value's type at all (`input` is a string or an array).
  const expected = issue?.code === 'invalid_union' ? issue.errors.map((b) => (b[0]?.code === 'invalid_type' && b[0].path.length === 0 ? b[0].expected : undefined)) : [];
  if (expected.length > 0 && expected.every((e) => e !== undefined)) {
    return new GatewayError('invalid_request_error', `Invalid type for '${param}': expected one of ${expected.map((e) => article(e as string)).join(' or ')}, but got ${jsonType(found)} instead.`, {
      param,
      publicCode: 'invalid_type',
    });
  }
  return new GatewayError('invalid_request_error', `Invalid value for '${param}': ${issue?.message ?? 'invalid input'}.`, { param, publicCode: 'invalid_value' });
}

export function formatParam(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

/** The JSON type of a value in OpenAI's wording ("an object", "an integer"). */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

function article(expected: string): string {
  switch (expected) {
    case 'object':
    case 'array':
    case 'integer':
      return `an ${expected}`;
    case 'int':
      return 'an integer';
    default:
      return `a ${expected}`;
  }
}

/**
 * A union (string or parts array) reports at the field itself; the branch that got
 * furthest (the array's element) says what is actually wrong.
 */
function innermost(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[]): { issue: z.core.$ZodIssue; path: PropertyKey[] } {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union') return { issue, path };
  let best: z.core.$ZodIssue | undefined;
  for (const branch of issue.errors) {
    const candidate = branch[0];
    if (candidate && candidate.path.length > (best?.path.length ?? 0)) best = candidate;
  }
  return best ? innermost(best, path) : { issue, path };
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}
