// `kubectl edit` as a user runs it, with an editor program in place of the user: it sets one key of
// a ConfigMap's data, so the API server and the webhook see exactly the request a hand edit sends.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kubectl, RunResult } from './test-cluster.js';

const editor = `import { readFileSync, writeFileSync } from 'node:fs';
const file = process.argv[2];
const obj = JSON.parse(readFileSync(file, 'utf8'));
obj.data[process.env.EDIT_KEY] = readFileSync(process.env.EDIT_VALUE_FILE, 'utf8');
writeFileSync(file, JSON.stringify(obj, null, 2));
`;

export interface ConfigMapEdit {
  namespace: string;
  name: string;
  key: string;
  value: string;
}

/** `kubectl edit configmap --output=json` setting data[key] = value; resolves with the result, even a refusal. */
export async function kubectlEditConfigMap(cluster: Kubectl, edit: ConfigMapEdit): Promise<RunResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kubectl-edit-'));
  const script = path.join(dir, 'editor.mjs');
  const valueFile = path.join(dir, 'value');
  writeFileSync(script, editor);
  writeFileSync(valueFile, edit.value);
  return cluster.kubectl(['-n', edit.namespace, 'edit', 'configmap', edit.name, '--output=json'], {
    allowFailure: true,
    env: { KUBE_EDITOR: `${process.execPath} ${script}`, EDIT_KEY: edit.key, EDIT_VALUE_FILE: valueFile },
  });
}
