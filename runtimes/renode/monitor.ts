/**
 * Renode's monitor protocol: a client for the monitor port (`renode --port N`) and the machine
 * state it reports.
 */
import net from 'node:net';
import { WasmbedError } from '../../common/errors.js';

/** A client for Renode's monitor port (`renode --port N`): one command at a time, output up to the next prompt. */
export class RenodeMonitor {
  private buffer = '';
  private waiter?: () => void;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += RenodeMonitor.clean(chunk);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  /** Telnet negotiation (IAC …) and ANSI colour codes removed. */
  static clean(text: string): string {
    /* eslint-disable no-control-regex -- telnet negotiation and ANSI escapes are control bytes */
    return text
      .replace(/\xff[\xfb-\xfe]./gs, '')
      .replace(/\xff[\xf0-\xfa]/g, '')
      .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
      .replace(/\r/g, '');
    /* eslint-enable no-control-regex */
  }

  static readonly PROMPT = /\(([A-Za-z0-9_.-]+)\) ?$/;

  static async connect(host: string, port: number, timeoutMs = 30_000): Promise<RenodeMonitor> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ host, port }, () => resolve(s));
          s.once('error', reject);
        });
        const monitor = new RenodeMonitor(socket);
        await monitor.untilPrompt(Math.max(1000, deadline - Date.now()));
        return monitor;
      } catch (err) {
        if (Date.now() > deadline)
          throw new WasmbedError(
            'MonitorUnavailable',
            `Renode monitor at ${host}:${port} did not answer: ${String(err)}`,
          );
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private async untilPrompt(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!RenodeMonitor.PROMPT.test(this.buffer)) {
      if (this.closed) throw new WasmbedError('MonitorClosed', 'Renode closed the monitor connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new WasmbedError('MonitorTimeout', `no monitor prompt within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    const text = this.buffer.replace(RenodeMonitor.PROMPT, '');
    this.buffer = '';
    return text;
  }

  /** Runs one command; returns its output. Renode's error replies become exceptions. */
  async execute(command: string, timeoutMs = 30_000): Promise<string> {
    if (/[\r\n]/.test(command)) throw new Error('one command per call');
    this.socket.write(`${command}\n`);
    const raw = await this.untilPrompt(timeoutMs);
    const lines = raw.split('\n');
    if (lines[0]?.trim() === command.trim()) lines.shift(); // the echo
    const output = lines.join('\n').trim();
    if (/^(There was an error|Could not find|No such command|error:)/im.test(output)) {
      throw new WasmbedError('MonitorCommandFailed', `Renode refused "${command}": ${output}`);
    }
    return output;
  }

  /** `quit`: Renode exits, so there is no prompt to wait for. */
  quit(): void {
    if (!this.closed) this.socket.write('quit\n');
    this.close();
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

/** Whether the machine runs, asked through the monitor. */
export async function readState(monitor: RenodeMonitor): Promise<'paused' | 'running'> {
  const answer = (await monitor.execute('machine IsPaused')).trim();
  if (/^true$/i.test(answer)) return 'paused';
  if (/^false$/i.test(answer)) return 'running';
  throw new WasmbedError('MonitorCommandFailed', `unexpected answer to "machine IsPaused": ${answer}`);
}
