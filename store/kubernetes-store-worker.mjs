// Worker thread of KubernetesResourceStore (store/kubernetes-resource-store.ts).
//
// ResourceStore is a synchronous interface (the SQLite backend answers in microseconds), while
// every Kubernetes call is asynchronous HTTP. This worker makes the calls with
// @kubernetes/client-node; the store's thread blocks on Atomics.wait until the answer is posted
// back. Plain JavaScript on purpose: a worker does not inherit the tsx loader everywhere.
import { parentPort, workerData } from 'node:worker_threads';
import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';

const { signal, port, kubeconfig } = workerData;
const flag = new Int32Array(signal);
const kc = new KubeConfig();
if (kubeconfig) kc.loadFromFile(kubeconfig);
else kc.loadFromDefault();
const api = kc.makeApiClient(CustomObjectsApi);
const GROUP = 'wasmbed.io';
const VERSION = 'v1alpha1';

function errorOf(err) {
  if (err instanceof ApiException) {
    let message = String(err.body ?? err.message);
    try {
      message = JSON.parse(err.body).message ?? message;
    } catch {
      /* not JSON */
    }
    return { code: err.code, message };
  }
  return { code: 0, message: err instanceof Error ? err.message : String(err) };
}

const ops = {
  get: (a) => api.getNamespacedCustomObject(a),
  list: (a) => api.listNamespacedCustomObject(a),
  create: (a) => api.createNamespacedCustomObject(a),
  replace: (a) => api.replaceNamespacedCustomObject(a),
  replaceStatus: (a) => api.replaceNamespacedCustomObjectStatus(a),
  delete: (a) => api.deleteNamespacedCustomObject(a),
};

port.on('message', async ({ op, args }) => {
  let reply;
  try {
    const fn = ops[op];
    if (!fn) throw new Error(`unknown operation ${op}`);
    const result = await fn({ group: GROUP, version: VERSION, ...args });
    reply = { ok: true, result };
  } catch (err) {
    reply = { ok: false, error: errorOf(err) };
  }
  port.postMessage(reply);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
parentPort?.postMessage('ready');
