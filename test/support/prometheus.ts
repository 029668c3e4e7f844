/**
 * A real Prometheus (Debian's package, installed by scripts/setup.mjs --with-prometheus) on a
 * free port with a generated configuration: static targets scraped every second, optional rule
 * files. Also the observability manifest's ConfigMaps (k8s/70-observability.yaml) as files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../common/repo-root.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_PATH || '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.PROMTOOL_PATH || '/usr/bin/promtool';

/** One scrape target: its address and the labels it gets (process, endpoint). */
export interface ScrapeTarget {
  address: string;
  labels: Record<string, string>;
}

export interface Prometheus {
  url: string;
  /** An instant PromQL query; throws with Prometheus's error on a bad expression. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  get(pathname: string): Promise<any>;
  stop(): Promise<void>;
}

/** The data of a ConfigMap in k8s/70-observability.yaml, by ConfigMap name. */
export function observabilityConfig(name: string): Record<string, string> {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'k8s', '70-observability.yaml'), 'utf8');
  const doc = loadAllYaml(text).find((d) => d?.metadata?.name === name);
  if (!doc) throw new Error(`k8s/70-observability.yaml has no ConfigMap ${name}`);
  return doc.data as Record<string, string>;
}

export async function startPrometheus(options: {
  targets: ScrapeTarget[];
  ruleFiles?: Record<string, string>;
  job?: string;
}): Promise<Prometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-prometheus-'));
  const ruleFiles = Object.entries(options.ruleFiles ?? {}).map(([name, content]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  });
  // JSON is YAML: no YAML writer needed.
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: ruleFiles,
    scrape_configs: [
      {
        job_name: options.job ?? 'wasmbed',
        static_configs: options.targets.map((t) => ({ targets: [t.address], labels: t.labels })),
      },
    ],
  };
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const lines: string[] = [];
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  await waitFor(
    'Prometheus to be ready',
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${lines.slice(-10).join('\n')}`);
      return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok;
    },
    30_000,
  );
  const get = async (pathname: string) => {
    const res = await fetch(`${url}${pathname}`);
    const body = (await res.json()) as { status: string; data: any; error?: string };
    if (body.status !== 'success') throw new Error(`${pathname}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    get,
    async query(expr) {
      const data = await get(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      return data.result;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
