/**
 * Gemini `Schema` (OpenAPI 3.0 subset: upper-case types, `nullable`, `format: "enum"`,
 * `propertyOrdering`, `example`) -> plain JSON Schema, for upstreams that take JSON Schema.
 * Keywords the two share (properties, required, items, enum, anyOf, bounds, pattern,
 * description, title, default) pass unchanged.
 */
export function convertGeminiSchemaToJsonSchema(schema: Record<string, unknown>): Record<string, unknown> {
  return convertNode(schema) ?? {};
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function convertNode(input: unknown): Record<string, unknown> | undefined {
  if (!isObject(input)) return undefined;
  const out: Record<string, unknown> = {};
  const rawType = input.type;
  if (typeof rawType === 'string' && rawType.toUpperCase() !== 'TYPE_UNSPECIFIED') {
    const type = rawType.toLowerCase();
    out.type = input.nullable === true ? [type, 'null'] : type;
  }
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined || value === null) continue;
    switch (key) {
      case 'type':
      case 'nullable':
      case 'propertyOrdering':
        break;
      case 'format':
        // "enum" is how Gemini marks a string enum; JSON Schema says it with `enum` alone.
        if (value !== 'enum') out.format = value;
        break;
      case 'example':
        out.examples = [value];
        break;
      case 'properties': {
        if (!isObject(value)) break;
        const props: Record<string, unknown> = {};
        for (const [name, sub] of Object.entries(value)) props[name] = convertNode(sub) ?? {};
        out.properties = props;
        break;
      }
      case 'items':
        out.items = convertNode(value) ?? {};
        break;
      case 'anyOf':
        if (Array.isArray(value)) out.anyOf = value.map((v) => convertNode(v) ?? {});
        break;
      default:
        out[key] = value;
    }
  }
  // A nullable enum must list null, or JSON Schema validators reject the null Gemini allows.
  if (input.nullable === true && Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  if (out.type === undefined && input.nullable === true && Array.isArray(out.anyOf)) out.anyOf = [...out.anyOf, { type: 'null' }];
  return out;
}
