/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/** Following one device, with a progress bar, until it is Connected, Failed or gone. */
import { CliError, StatusLine, progressBar, sleep } from '../lib.js';
import type { CommandContext } from '../command-context.js';

/** Follows a device until it is Connected (0), Failed (1), gone when `untilGone` (0), or timeout (3). */
export async function watchDevice(ctx: CommandContext, name: string, untilGone = false): Promise<number> {
  const line = new StatusLine();
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    const res = await ctx.api.request('GET', `/devices/${encodeURIComponent(name)}`, undefined, {
      allow: [404],
    });
    if (res.status === 404) {
      if (untilGone) line.update(`${name} ${progressBar(1, 1)} deleted`, true);
      line.done();
      if (untilGone) {
        if (ctx.json) ctx.out(JSON.stringify({ name, deleted: true }));
        else ctx.out(`${name} deleted`);
        return 0;
      }
      throw new CliError(`device ${name} does not exist`);
    }
    const d = res.body;
    const phase: string = d.status?.phase;
    const steps: any[] = d.status?.steps ?? [];
    const done = steps.filter((s) => s.state === 'Succeeded').length;
    const current = steps.find((s) => s.state === 'Running' || s.state === 'Failed')?.name ?? '';
    line.update(
      untilGone
        ? // Provisioning's steps (all done) and the phase (Connected until deprovisioning
          // writes its own) said nothing of a deletion: the bar is the one device, until it is gone.
          `${name} ${progressBar(0, 1)} deleting`
        : `${name} ${progressBar(done, steps.length || 7)} ${phase}${current ? ` · ${current}` : ''}`,
    );
    if (!untilGone && phase === 'Connected') {
      line.done();
      ctx.out(
        ctx.json ? JSON.stringify(d, null, 2) : `${name} Connected via ${d.status.gateway?.name ?? '?'}`,
      );
      return 0;
    }
    if (!untilGone && phase === 'Failed') {
      line.done();
      if (ctx.json) ctx.out(JSON.stringify(d, null, 2));
      process.stderr.write(
        `${name} Failed: ${d.status.message ?? 'unknown reason'} (wasmbed device retry ${name})\n`,
      );
      return 1;
    }
    if (Date.now() > deadline) {
      line.done();
      process.stderr.write(`timed out after ${ctx.timeoutMs / 1000} s; ${name} is ${phase}\n`);
      return 3;
    }
    await sleep(300);
  }
}
