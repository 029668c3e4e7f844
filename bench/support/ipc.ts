/**
 * A tiny request/reply protocol over Node's IPC channel, for benchmark child processes.
 * Parent → child: { id, cmd, args }. Child → parent: { id, ok, result | error }, or an
 * unsolicited { event, ... } (for example 'ready').
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface IpcRequest {
  id: number;
  cmd: string;
  args?: any;
}

export type IpcReply = { id: number; ok: true; result: any } | { id: number; ok: false; error: string };

/** Child side: answers commands with `handlers`; exits when the parent goes away. */
export function serveIpc(handlers: Record<string, (args: any) => unknown>): void {
  if (!process.send) throw new Error('this script must be started by a benchmark (no IPC channel)');
  process.on('message', (raw) => {
    const request = raw as IpcRequest;
    const handler = handlers[request.cmd];
    const reply = (message: IpcReply) => process.send?.(message);
    if (!handler) {
      reply({ id: request.id, ok: false, error: `unknown command ${request.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(request.args ?? {}))
      .then(
        (result) => reply({ id: request.id, ok: true, result }),
        (err: unknown) =>
          reply({
            id: request.id,
            ok: false,
            error: err instanceof Error ? (err.stack ?? err.message) : String(err),
          }),
      );
  });
  // The parent died or dropped us: never linger holding thousands of sockets.
  process.on('disconnect', () => process.exit(0));
}

/** Parent side of one child process. */
export class BenchChild {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: any): void; reject(e: Error): void }>();
  private readonly events: { event: string; payload: any }[] = [];
  private readonly eventWaiters: { event: string; resolve(v: any): void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.on('message', (raw: any) => {
      if (raw && typeof raw.event === 'string') {
        const waiter = this.eventWaiters.findIndex((w) => w.event === raw.event);
        if (waiter >= 0) this.eventWaiters.splice(waiter, 1)[0]!.resolve(raw);
        else this.events.push({ event: raw.event, payload: raw });
        return;
      }
      const reply = raw as IpcReply;
      const entry = this.pending.get(reply.id);
      if (!entry) return;
      this.pending.delete(reply.id);
      if (reply.ok) entry.resolve(reply.result);
      else entry.reject(new Error(`${name}: ${reply.error}`));
    });
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        for (const entry of this.pending.values()) {
          entry.reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
        }
        this.pending.clear();
        resolve(code);
      }),
    );
  }

  call<T = any>(cmd: string, args: unknown = {}, timeoutMs = 60_000): Promise<T> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null || !this.proc.connected) {
      return Promise.reject(new Error(`${this.name} is not running`));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, cmd, args } satisfies IpcRequest);
    });
  }

  waitEvent(event: string, timeoutMs: number): Promise<any> {
    const queued = this.events.findIndex((e) => e.event === event);
    if (queued >= 0) return Promise.resolve(this.events.splice(queued, 1)[0]!.payload);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: no '${event}' within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onExit = () => reject(new Error(`${this.name} exited before '${event}'`));
      void this.exited.then(onExit);
      this.eventWaiters.push({
        event,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
      });
    });
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

const children = new Set<BenchChild>();
let cleanupInstalled = false;

/** Kills every child this process started (by its own handle, never by name). */
export function killAllChildren(): void {
  for (const child of children) child.kill();
  children.clear();
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

/**
 * Forks a TypeScript entry script (run through tsx) with an IPC channel. Its stdout is
 * ignored; its stderr (the gateway's log lines) goes to `logFile`, never to an undrained pipe.
 */
export function forkScript(
  name: string,
  script: string,
  config: unknown,
  options: { logFile: string; execArgv?: string[] },
): BenchChild {
  installCleanup();
  const log = fs.openSync(options.logFile, 'a');
  const proc = fork(path.join(REPO_ROOT, script), [JSON.stringify(config)], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])],
    stdio: ['ignore', 'ignore', log, 'ipc'],
    serialization: 'advanced',
  });
  fs.closeSync(log);
  const child = new BenchChild(name, proc);
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}
