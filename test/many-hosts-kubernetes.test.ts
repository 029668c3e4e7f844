/**
 * The many-hosts suite (test/support/many-hosts-suite.ts) with resources as custom resources on a
 * real kube-apiserver + etcd (the informer-backed store) and the ledger, logs, modules and host
 * registry in PostgreSQL: the shape the manifests in k8s/ deploy. Controller replicas and their
 * leader failover are test/kubernetes.test.ts.
 */
import { manyHostsSuite } from './support/many-hosts-suite.js';

manyHostsSuite('kubernetes');
