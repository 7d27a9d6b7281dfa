import { jsonType } from '../../core/json-type.ts';
import { innermostIssue, valueAtPath } from '../../core/zod-issue-path.ts';
import type { z } from 'zod';
import { GatewayError } from '../../core/errors.ts';

/**
 * A zod issue in a Responses request -> OpenAI's own error wording, with `param`
 * in OpenAI's path notation (`input[2].content[0].text`). `prefix` is where the
 * parsed value sits in the body; `value` is that value, to tell a missing field
 * from a wrong one.
 */
export function issueToResponsesError(first: z.core.$ZodIssue | undefined, prefix: readonly PropertyKey[], value: unknown): GatewayError {
  const { issue, path } = first ? innermostIssue(first, []) : { issue: undefined, path: [] };
  const param = formatParam([...prefix, ...path]);
  const found = valueAtPath(value, path);
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

export { jsonType };

export function formatParam(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
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

