// Generates kubeconform's JSON schemas offline (no schema downloads here): built-in kinds from the
// Kubernetes 1.37 OpenAPI in the k8s.io/kubernetes module, custom kinds from the CRD YAMLs of
// cert-manager, trust-manager and prometheus-operator. Strict: unknown fields are errors.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { cacheRoot, goModuleDir, schemaModules } from './tools.js';

type Schema = { [key: string]: unknown };

/** kubeconform's -schema-location template for the layout written here ({group}/{kind}_{version}.json). */
export const schemaLocationTemplate = '{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json';

const crdFiles: { module: keyof typeof schemaModules; dir: string }[] = [
  { module: 'certManager', dir: 'deploy/crds' },
  { module: 'trustManager', dir: 'deploy/crds' },
  { module: 'prometheusOperator', dir: 'example/prometheus-operator-crd' },
];

function isObject(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const intOrString = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
const quantity = { oneOf: [{ type: 'string' }, { type: 'number' }] };

/**
 * One schema node made strict and standalone: $refs inlined (a cycle becomes an open schema),
 * objects with known properties closed, int-or-string and quantities widened as the API server reads them.
 */
function strict(node: unknown, definitions: Record<string, Schema>, seen: string[]): unknown {
  if (Array.isArray(node)) return node.map((n) => strict(n, definitions, seen));
  if (!isObject(node)) return node;
  const ref = node['$ref'];
  if (typeof ref === 'string') {
    const name = ref.replace('#/definitions/', '');
    if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') return quantity;
    if (seen.includes(name)) return {};
    const target = definitions[name];
    if (!target) throw new Error(`OpenAPI $ref ${ref} has no definition`);
    return strict(target, definitions, [...seen, name]);
  }
  if (node['format'] === 'int-or-string' || node['x-kubernetes-int-or-string'] === true) return intOrString;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description' || key === 'x-kubernetes-validations') continue;
    if (key === 'properties' && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, strict(v, definitions, seen)]));
    } else {
      out[key] = strict(value, definitions, seen);
    }
  }
  if (out['nullable'] === true && typeof out['type'] === 'string') out['type'] = [out['type'], 'null'];
  delete out['nullable'];
  const open = out['x-kubernetes-preserve-unknown-fields'] === true;
  if (isObject(out['properties']) && !('additionalProperties' in out) && !open) out['additionalProperties'] = false;
  return out;
}

function write(dir: string, group: string, kind: string, version: string, schema: unknown): void {
  const file = path.join(dir, group, `${kind.toLowerCase()}_${version}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(schema));
}

function writeBuiltIns(dir: string): number {
  const swagger = path.join(goModuleDir(schemaModules.kubernetes), 'api/openapi-spec/swagger.json');
  const definitions = (JSON.parse(readFileSync(swagger, 'utf8')) as { definitions: Record<string, Schema> }).definitions;
  let count = 0;
  for (const [name, definition] of Object.entries(definitions)) {
    const gvks = definition['x-kubernetes-group-version-kind'] as { group: string; version: string; kind: string }[] | undefined;
    if (!gvks || gvks.length !== 1 || name.endsWith('List')) continue;
    const { group, version, kind } = gvks[0]!;
    const apiVersion = group ? `${group}/${version}` : version;
    const schema = strict(definition, definitions, [name]) as Schema;
    const properties = schema['properties'] as Schema;
    properties['apiVersion'] = { enum: [apiVersion] };
    properties['kind'] = { enum: [kind] };
    schema['required'] = [...new Set([...((schema['required'] as string[]) ?? []), 'apiVersion', 'kind'])];
    write(dir, group || version, kind, version, schema);
    count++;
  }
  return count;
}

interface Crd {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; served: boolean; schema: { openAPIV3Schema: Schema } }[];
  };
}

function writeCrds(dir: string): number {
  let count = 0;
  for (const { module, dir: crdDir } of crdFiles) {
    const root = path.join(goModuleDir(schemaModules[module]), crdDir);
    for (const file of readdirSync(root).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(readFileSync(path.join(root, file), 'utf8'))) {
        const crd = doc.toJS() as Crd | null;
        if (crd?.kind !== 'CustomResourceDefinition') continue;
        for (const version of crd.spec.versions.filter((v) => v.served)) {
          const schema = strict(version.schema.openAPIV3Schema, {}, []) as Schema;
          const properties = schema['properties'] as Schema;
          properties['apiVersion'] = { enum: [`${crd.spec.group}/${version.name}`] };
          properties['kind'] = { enum: [crd.spec.names.kind] };
          properties['metadata'] = { type: 'object' };
          write(dir, crd.spec.group, crd.spec.names.kind, version.name, schema);
          count++;
        }
      }
    }
  }
  return count;
}

/**
 * The schema directory, generated on first use and cached per machine under a key made of the module
 * versions and this file's own text (changing the generator regenerates the schemas).
 */
export function ensureSchemas(): string {
  const generator = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const key = createHash('sha256').update(JSON.stringify(schemaModules)).update(generator).digest('hex').slice(0, 16);
  const dir = path.join(cacheRoot(), 'kubeconform-schemas', key);
  if (existsSync(path.join(dir, '.complete'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const builtIns = writeBuiltIns(tmp);
  const crds = writeCrds(tmp);
  writeFileSync(path.join(tmp, '.complete'), JSON.stringify({ builtIns, crds }));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}
