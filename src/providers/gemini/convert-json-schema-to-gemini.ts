/**
 * JSON Schema -> the OpenAPI 3.0 subset Gemini's `Schema` accepts
 * (https://ai.google.dev/api/caching#Schema). Gemini answers 400 "Invalid JSON payload
 * received. Unknown name ..." for keywords outside that subset, so they are removed and
 * reported.
 *
 * Why `parameters`/`responseSchema` and not `parametersJsonSchema`/`responseJsonSchema`:
 * the subset works on every Gemini model (1.5 to 3), while the JSON Schema fields are
 * newer and not accepted everywhere. The conversion keeps what changes the model's
 * output (types, properties, required, enums, descriptions, bounds) and inlines local
 * `$ref`s, which the subset cannot express.
 */

const KEPT = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'maxItems',
  'minItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'anyOf',
  'propertyOrdering',
  'default',
  'items',
  'minimum',
  'maximum',
]);

/** Keywords handled by the conversion itself, or with no effect on what the model writes. */
const HANDLED = new Set(['$ref', '$defs', 'definitions', 'const', 'oneOf', 'allOf', '$schema', '$id', '$comment', 'examples', 'strict']);

/** Formats Gemini accepts, per type; others are dropped. */
const FORMATS: Record<string, Set<string>> = {
  string: new Set(['enum', 'date-time']),
  integer: new Set(['int32', 'int64']),
  number: new Set(['float', 'double']),
};

const MAX_REF_DEPTH = 8;

export interface GeminiSchemaConversion {
  /** undefined when the schema says nothing Gemini can use (e.g. an object without properties). */
  schema: Record<string, unknown> | undefined;
  /** Keywords removed because Gemini cannot honour them, sorted. */
  dropped: string[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * @param opts.propertyOrdering add `propertyOrdering` (the JSON Schema key order) to
 *   objects: Gemini 2.0 otherwise writes structured-output properties alphabetically.
 */
export function convertJsonSchemaToGemini(schema: Record<string, unknown>, opts: { propertyOrdering?: boolean } = {}): GeminiSchemaConversion {
  const defs: Json = { ...(isObject(schema.definitions) ? schema.definitions : {}), ...(isObject(schema.$defs) ? schema.$defs : {}) };
  const dropped = new Set<string>();
  const ctx: Ctx = { defs, dropped, propertyOrdering: opts.propertyOrdering === true };
  const out = convertNode(schema, ctx, 0);
  const result = out && isEmptyObjectSchema(out) ? undefined : out;
  return { schema: result, dropped: [...dropped].sort() };
}

interface Ctx {
  defs: Json;
  dropped: Set<string>;
  propertyOrdering: boolean;
}

function isEmptyObjectSchema(s: Json): boolean {
  return s.type === 'object' && (!isObject(s.properties) || Object.keys(s.properties).length === 0) && s.anyOf === undefined && s.description === undefined;
}

function resolveRef(ref: string, ctx: Ctx): Json | undefined {
  const m = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref);
  if (!m) return undefined;
  const target = ctx.defs[decodeURIComponent(m[1].replace(/~1/g, '/').replace(/~0/g, '~'))];
  return isObject(target) ? target : undefined;
}

function convertNode(input: unknown, ctx: Ctx, depth: number): Json | undefined {
  if (input === true || (isObject(input) && Object.keys(input).length === 0)) return {};
  if (!isObject(input)) return undefined;
  let node: Json = input;

  if (typeof node.$ref === 'string') {
    const target = depth < MAX_REF_DEPTH ? resolveRef(node.$ref, ctx) : undefined;
    if (!target) {
      // A recursive or external reference: the subset has no way to say it.
      ctx.dropped.add('$ref');
      const { $ref: _ref, ...rest } = node;
      node = { type: 'object', ...rest };
    } else {
      const { $ref: _ref, ...rest } = node;
      node = { ...target, ...rest };
      depth += 1;
    }
  }

  // allOf of plain objects: merged, the common case generators emit for $ref + description.
  if (Array.isArray(node.allOf)) {
    const { allOf, ...rest } = node;
    let merged: Json = rest;
    for (const member of allOf) {
      let m: unknown = member;
      if (isObject(m) && typeof m.$ref === 'string') m = depth < MAX_REF_DEPTH ? resolveRef(m.$ref, ctx) : undefined;
      if (!isObject(m)) {
        ctx.dropped.add('allOf');
        continue;
      }
      const props = { ...(isObject(merged.properties) ? merged.properties : {}), ...(isObject(m.properties) ? m.properties : {}) };
      const required = [...(Array.isArray(merged.required) ? merged.required : []), ...(Array.isArray(m.required) ? m.required : [])];
      merged = { ...m, ...merged };
      if (Object.keys(props).length > 0) merged.properties = props;
      if (required.length > 0) merged.required = [...new Set(required)];
    }
    node = merged;
    depth += 1;
  }

  const out: Json = {};
  let nullable = node.nullable === true;

  // type: ["string", "null"] -> type + nullable; several non-null types -> anyOf.
  let type: string | undefined;
  let typeVariants: string[] | undefined;
  if (typeof node.type === 'string') {
    if (node.type === 'null') nullable = true;
    else type = node.type;
  } else if (Array.isArray(node.type)) {
    const types = node.type.filter((t): t is string => typeof t === 'string');
    if (types.includes('null')) nullable = true;
    const rest = types.filter((t) => t !== 'null');
    if (rest.length === 1) type = rest[0];
    else if (rest.length > 1) typeVariants = rest;
  }

  // oneOf is anyOf for generation purposes; a {type:null} member becomes nullable.
  const unionSource = Array.isArray(node.anyOf) ? node.anyOf : Array.isArray(node.oneOf) ? node.oneOf : undefined;
  let variants: Json[] | undefined;
  if (unionSource) {
    const members: Json[] = [];
    for (const member of unionSource) {
      if (isObject(member) && member.type === 'null' && Object.keys(member).length === 1) {
        nullable = true;
        continue;
      }
      const converted = convertNode(member, ctx, depth);
      if (converted) members.push(converted);
    }
    if (members.length === 1 && type === undefined) {
      Object.assign(out, members[0]);
    } else if (members.length > 0) {
      variants = members;
    }
  } else if (typeVariants) {
    const { type: _t, ...rest } = node;
    variants = typeVariants.map((t) => convertNode({ ...rest, type: t, nullable: undefined }, ctx, depth) ?? { type: t });
  }

  if (variants) {
    out.anyOf = variants;
  }
  if (type !== undefined) out.type = type;

  for (const [key, value] of Object.entries(node)) {
    if (value === undefined) continue;
    switch (key) {
      case 'type':
      case 'nullable':
      case 'anyOf':
      case 'oneOf':
      case 'allOf':
      case '$ref':
      case '$defs':
      case 'definitions':
        continue;
      case 'properties': {
        if (!isObject(value)) continue;
        const props: Json = {};
        for (const [name, sub] of Object.entries(value)) {
          const converted = convertNode(sub, ctx, depth);
          if (converted) props[name] = converted;
        }
        out.properties = props;
        if (ctx.propertyOrdering && Object.keys(props).length > 1 && node.propertyOrdering === undefined) out.propertyOrdering = Object.keys(props);
        continue;
      }
      case 'required': {
        if (Array.isArray(value)) out.required = value.filter((r): r is string => typeof r === 'string');
        continue;
      }
      case 'items': {
        // Tuple schemas (items: [...]) have no counterpart: the first member stands for all.
        const source = Array.isArray(value) ? value[0] : value;
        if (Array.isArray(value)) ctx.dropped.add('items (tuple)');
        const converted = convertNode(source, ctx, depth);
        if (converted) out.items = converted;
        continue;
      }
      case 'enum': {
        if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out.enum = value;
        else if (Array.isArray(value) && value.every((v) => typeof v === 'string' || v === null)) {
          out.enum = value.filter((v) => v !== null);
          nullable = true;
        } else ctx.dropped.add('enum (non-string)');
        continue;
      }
      case 'const': {
        if (typeof value === 'string') {
          out.enum = [value];
          if (out.type === undefined) out.type = 'string';
        } else ctx.dropped.add('const (non-string)');
        continue;
      }
      case 'format': {
        const allowed = typeof out.type === 'string' ? FORMATS[out.type] : undefined;
        if (typeof value === 'string' && allowed?.has(value)) out.format = value;
        else ctx.dropped.add('format');
        continue;
      }
      case 'examples': {
        if (Array.isArray(value) && value.length > 0 && node.example === undefined) out.example = value[0];
        continue;
      }
      case 'additionalProperties': {
        // `false` is what strict-mode schemas always carry and Gemini never emits extra keys anyway.
        if (value !== false) ctx.dropped.add('additionalProperties');
        continue;
      }
      default:
        if (KEPT.has(key)) out[key] = value;
        else if (!HANDLED.has(key)) ctx.dropped.add(key);
    }
  }
  if (nullable) out.nullable = true;
  return out;
}
