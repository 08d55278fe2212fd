// Loading the kubeconfig every process starts from: a file when one is named, else the default
// chain (KUBECONFIG, ~/.kube/config, the in-cluster ServiceAccount), with one clear error.
import { KubeConfig } from '@kubernetes/client-node';

/**
 * The kubeconfig at `path`, or the default one, on `context` when given (else its current context);
 * throws an Error saying what to pass when there is no cluster or no such context.
 */
export function loadKubeConfig(path: string | undefined, context?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new Error(`cannot load the kubeconfig ${path ?? '(default)'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (context !== undefined) {
    if (!kc.getContextObject(context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new Error(`expected context ${context} in the kubeconfig ${path ?? '(default)'}, found ${known.length > 0 ? `only ${known.join(', ')}` : 'no context'}; pass a context it holds`);
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new Error('no cluster in the kubeconfig: pass --kubeconfig or run in a pod with a ServiceAccount');
  return kc;
}
