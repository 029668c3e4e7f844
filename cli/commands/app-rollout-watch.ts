/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/** Following an application's rollout, with a progress bar, until it settles. */
import { StatusLine, progressBar, sleep, table } from '../lib.js';
import type { CommandContext } from '../command-context.js';
import { appDeviceStateLabel } from '../../common/app-device-label.js';

const SETTLED = new Set(['Running', 'PartiallyRunning', 'Failed', 'RolledBack', 'Stopped']);

/** With --detach, prints what the API answered; else a progress bar until the rollout settles. */
export async function watchRollout(ctx: CommandContext, name: string, started: unknown): Promise<number> {
  const v = ctx.values;
  if (v.detach) {
    if (ctx.json) ctx.out(JSON.stringify(started));
    return 0;
  }
  const line = new StatusLine();
  const deadline = Date.now() + ctx.timeoutMs;
  let toldToPromote = false;
  for (;;) {
    const { body: a } = await ctx.api.request('GET', `/applications/${encodeURIComponent(name)}`);
    const c = a.status?.counts ?? { targeted: 0, running: 0, failed: 0, pending: 0 };
    const phase = a.status?.phase;
    line.update(
      `${name} ${progressBar(c.running, c.targeted)} running, ${c.failed} failed, ${c.pending} pending · ${phase}`,
    );
    if (a.status?.awaitingPromotion && !toldToPromote) {
      toldToPromote = true;
      line.done();
      process.stderr.write(
        `canary wave done; continue with: wasmbed app promote ${name} (or roll it back: wasmbed app abort ${name})\n`,
      );
    }
    if (SETTLED.has(phase)) {
      line.done();
      if (ctx.json) ctx.out(JSON.stringify(a, null, 2));
      else {
        ctx.out(
          table(
            ['DEVICE', 'STATE', 'ERROR'],
            Object.entries(a.status.devices ?? {}).map(([d, s]: [string, any]) => [
              d,
              appDeviceStateLabel(s, a.status.awaitingPromotion),
              s.error ?? '',
            ]),
          ),
        );
        ctx.out(`${name}: ${phase}${a.status.message ? ` — ${a.status.message}` : ''}`);
      }
      return phase === 'Running' ? 0 : 1;
    }
    if (Date.now() > deadline) {
      line.done();
      process.stderr.write(`timed out; ${name} is ${phase}\n`);
      return 3;
    }
    await sleep(400);
  }
}
