/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/** `wasmbed status`: the health of every platform process (exit 1 when one is not ok). */
import { table } from '../lib.js';
import type { CommandContext } from '../command-context.js';

export async function status(ctx: CommandContext): Promise<number> {
  const { body } = await ctx.api.request('GET', '/health');
  if (ctx.json) ctx.out(JSON.stringify(body, null, 2));
  else
    ctx.out(
      table(
        ['PROCESS', 'KIND', 'STATUS', 'DETAIL'],
        body.processes.map((p: any) => [p.name, p.kind, p.status, p.detail]),
      ),
    );
  return body.processes.every((p: any) => p.status === 'ok') ? 0 : 1;
}
