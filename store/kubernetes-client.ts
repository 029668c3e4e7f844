/**
 * API clients that reuse their connections. @kubernetes/client-node (1.x) builds a new
 * https.Agent for every request, so each API call opens a TLS connection of its own: a handshake
 * per call, which costs the API server and this process's event loop more than the call itself
 * (hundreds of ms of loop delay for a burst of 200 calls on a loaded 2-core machine). Here the
 * library still authenticates every request (token, client certificate, exec plugin), and a
 * middleware then hands the request to one keep-alive agent per KubeConfig, made with the same
 * TLS options, and a bounded number of connections.
 */
import https from 'node:https';
import {
  ServerConfiguration,
  createConfiguration,
  type Configuration,
  type KubeConfig,
  type Middleware,
} from '@kubernetes/client-node';

const agents = new WeakMap<KubeConfig, https.Agent>();
/**
 * Connections per API server and process. A burst of calls queues for a free connection rather
 * than opening (and handshaking) one each; client-go multiplexes everything over one HTTP/2
 * connection.
 */
const MAX_SOCKETS = 16;

export function makeKeepAliveApiClient<T>(kc: KubeConfig, apiType: new (config: Configuration) => T): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const keepAlive: Middleware = {
    async pre(context) {
      const perRequest = context.getAgent();
      if (perRequest instanceof https.Agent) {
        let shared = agents.get(kc);
        if (!shared) {
          shared = new https.Agent({ ...perRequest.options, keepAlive: true, maxSockets: MAX_SOCKETS });
          agents.set(kc, shared);
        }
        context.setAgent(shared);
      }
      return context;
    },
    async post(context) {
      return context;
    },
  };
  return new apiType(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [keepAlive],
    }),
  );
}
