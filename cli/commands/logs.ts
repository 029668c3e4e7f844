/** `wasmbed logs DEVICE [-f] [--app APP]`: a device's UART and app output, followed with -f. */
import { sleep } from '../lib.js';
import type { CommandContext } from '../command-context.js';

export async function logs(ctx: CommandContext, device: string): Promise<number> {
  let after = 0;
  const q = (extra: string) =>
    `/devices/${encodeURIComponent(device)}/logs?after=${after}${ctx.values.app ? `&app=${encodeURIComponent(ctx.values.app)}` : ''}${extra}`;
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  let first = true;
  while (!stop) {
    const { body } = await ctx.api.request('GET', q(first ? '&limit=200' : '&limit=1000'));
    first = false;
    for (const e of body.items) {
      after = e.id;
      if (ctx.json) ctx.out(JSON.stringify(e));
      else
        ctx.out(
          `${e.time} ${(e.appId ?? 'uart').padEnd(10)} ${e.kind === 'publish' ? 'publish ' : ''}${e.message}`,
        );
    }
    if (!ctx.values.follow) return 0;
    await sleep(500);
  }
  return 0;
}
