// Generates charts/linkerd-rotator/values.schema.json and the README's values table from the
// documented values.yaml (`npm run chart:schema`; `--check` exits 1 when either file is stale;
// `--chart <dir>` points it at another chart directory, as the chart tests do).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const chartDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../charts/linkerd-rotator');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { [key: string]: Json };

/** Shared definitions the `# @schema {"$ref": "#/$defs/..."}` annotations point at. */
const definitions: Record<string, Schema> = {
  name: {
    type: 'string',
    description: 'A Kubernetes object name (DNS-1123 subdomain).',
    minLength: 1,
    maxLength: 253,
    pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
  },
  duration: {
    type: 'string',
    description: 'A duration in hours, minutes and seconds, e.g. 8760h, 30m or 1h30m.',
    pattern: '^([0-9]+h([0-9]+m)?([0-9]+s)?|[0-9]+m([0-9]+s)?|[0-9]+s)$',
  },
  port: { type: 'integer', minimum: 1, maximum: 65535 },
  quantity: { type: ['string', 'number'], pattern: '^[0-9.]+([eE][0-9]+|[kMGTPE]i?|m)?$' },
  resources: {
    type: 'object',
    additionalProperties: false,
    properties: {
      requests: { type: 'object', additionalProperties: { $ref: '#/$defs/quantity' } },
      limits: { type: 'object', additionalProperties: { $ref: '#/$defs/quantity' } },
    },
  },
  labelSelector: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: {
      matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
      matchExpressions: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'operator'],
          properties: {
            key: { type: 'string' },
            operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
            values: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
  },
};

interface KeyDoc {
  description: string;
  annotation: Schema;
}

/** Reads the comment block above every `key:` line, indexed by dotted path. */
export function readKeyDocs(valuesYaml: string): Map<string, KeyDoc> {
  const docs = new Map<string, KeyDoc>();
  const stack: { indent: number; key: string }[] = [];
  let comments: string[] = [];
  for (const line of valuesYaml.split('\n')) {
    const comment = /^\s*#\s?(.*)$/.exec(line);
    if (comment) {
      comments.push(comment[1] ?? '');
      continue;
    }
    const key = /^(\s*)("[^"]+"|[A-Za-z0-9_./-]+):(\s|$)/.exec(line);
    if (!key) {
      comments = [];
      continue;
    }
    const indent = key[1]!.length;
    while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    const name = key[2]!.replace(/^"|"$/g, '');
    stack.push({ indent, key: name });
    const annotation: Schema = {};
    const text: string[] = [];
    for (const c of comments) {
      const schemaLine = /^@schema\s+(.*)$/.exec(c);
      if (schemaLine) Object.assign(annotation, JSON.parse(schemaLine[1]!) as Schema);
      else text.push(c);
    }
    docs.set(stack.map((s) => s.key).join('.'), { description: text.join(' ').trim(), annotation });
    comments = [];
  }
  return docs;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function inferType(value: unknown, where: string): Schema {
  if (typeof value === 'string') return { type: 'string' };
  if (typeof value === 'boolean') return { type: 'boolean' };
  if (typeof value === 'number') return { type: Number.isInteger(value) ? 'integer' : 'number' };
  if (Array.isArray(value)) return { type: 'array' };
  if (isPlainObject(value)) return { type: 'object' };
  throw new Error(`${where}: cannot infer a type from ${JSON.stringify(value)}; add a # @schema {"type": ...} line`);
}

function schemaFor(value: unknown, keyPath: string, docs: Map<string, KeyDoc>): Schema {
  const doc = docs.get(keyPath);
  if (!doc || !doc.description) {
    throw new Error(`values.yaml: key "${keyPath}" has no comment; document every key (the comment becomes its description)`);
  }
  const { annotation } = doc;
  const base: Schema = { description: doc.description };
  if (annotation['$ref']) return { ...base, default: value as Json, ...annotation };
  const freeform = 'additionalProperties' in annotation || annotation['type'] === 'object';
  if (isPlainObject(value) && !freeform) {
    const properties: Schema = {};
    for (const [k, v] of Object.entries(value)) properties[k] = schemaFor(v, `${keyPath}.${k}`, docs);
    return { ...base, type: 'object', additionalProperties: false, properties, ...annotation };
  }
  const inferred = 'type' in annotation || 'enum' in annotation ? {} : inferType(value, keyPath);
  if (Array.isArray(value) && !('items' in annotation)) {
    throw new Error(`values.yaml: list "${keyPath}" needs a # @schema {"items": ...} line so the schema stays strict`);
  }
  return { ...base, ...inferred, default: value as Json, ...annotation };
}

export interface Generated {
  schema: string;
  readme: string;
}

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

function typeLabel(s: Schema): string {
  if (typeof s['$ref'] === 'string') return s['$ref'].split('/').pop()!;
  if (Array.isArray(s['enum'])) return s['enum'].map((e) => JSON.stringify(e)).join(' \\| ');
  return String(s['type'] ?? 'any');
}

function collectRows(schema: Schema, prefix: string, values: unknown, rows: Row[]): void {
  const properties = schema['properties'] as Record<string, Schema>;
  for (const [key, child] of Object.entries(properties)) {
    const keyPath = prefix ? `${prefix}.${key}` : key;
    const value = isPlainObject(values) ? values[key] : undefined;
    if (child['type'] === 'object' && child['additionalProperties'] === false && child['properties']) {
      rows.push({ key: keyPath, type: 'object', default: '', description: String(child['description']) });
      collectRows(child, keyPath, value, rows);
    } else {
      const shown = JSON.stringify(value).replace(/\|/g, '\\|');
      rows.push({ key: keyPath, type: typeLabel(child), default: `\`${shown}\``, description: String(child['description']) });
    }
  }
}

export const readmeStart = '<!-- values:start (generated by `npm run chart:schema`; edit values.yaml) -->';
export const readmeEnd = '<!-- values:end -->';

/** Pure: values.yaml and the current README in, the schema file text and the new README out. */
export function generate(valuesYaml: string, readme: string): Generated {
  const values = parse(valuesYaml) as Record<string, unknown>;
  const docs = readKeyDocs(valuesYaml);
  const properties: Schema = {};
  for (const [k, v] of Object.entries(values)) properties[k] = schemaFor(v, k, docs);
  const schema: Schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'linkerd-rotator values',
    type: 'object',
    additionalProperties: false,
    properties,
    $defs: definitions as Json,
  };
  const rows: Row[] = [];
  collectRows(schema, '', values, rows);
  const table = [
    '| Key | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| \`${r.key}\` | ${r.type} | ${r.default} | ${r.description.replace(/\|/g, '\\|')} |`),
  ].join('\n');
  const start = readme.indexOf(readmeStart);
  const end = readme.indexOf(readmeEnd);
  if (start < 0 || end < start) throw new Error(`README.md: expected the markers ${readmeStart} and ${readmeEnd}`);
  const newReadme = `${readme.slice(0, start)}${readmeStart}\n${table}\n${readme.slice(end)}`;
  return { schema: `${JSON.stringify(schema, null, 2)}\n`, readme: newReadme };
}

function main(): void {
  const check = process.argv.includes('--check');
  const chartArg = process.argv.indexOf('--chart');
  const dir = chartArg > 0 ? path.resolve(process.argv[chartArg + 1] ?? '') : chartDir;
  const files = {
    values: path.join(dir, 'values.yaml'),
    schema: path.join(dir, 'values.schema.json'),
    readme: path.join(dir, 'README.md'),
  };
  let out: Generated;
  try {
    out = generate(readFileSync(files.values, 'utf8'), readFileSync(files.readme, 'utf8'));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  const stale = [
    [files.schema, out.schema],
    [files.readme, out.readme],
  ].filter(([file, text]) => !existsSync(file!) || readFileSync(file!, 'utf8') !== text);
  if (check) {
    for (const [file] of stale) console.error(`${path.relative(process.cwd(), file!)} is stale: run \`npm run chart:schema\``);
    process.exit(stale.length > 0 ? 1 : 0);
  }
  for (const [file, text] of stale) writeFileSync(file!, text!);
  console.log(stale.length > 0 ? `updated ${stale.map(([f]) => path.basename(f!)).join(', ')}` : 'up to date');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
