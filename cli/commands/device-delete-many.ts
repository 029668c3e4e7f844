/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/** `wasmbed device delete` with filters: every device they select. */
import { StatusLine, progressBar, queryParams, sleep } from '../lib.js';
import { listEvery, type CommandContext } from '../command-context.js';
import { deviceFilters } from './device-filters.js';

/**
 * `device delete` with filters instead of a name: one DELETE /devices?… for every device they
 * select; with --watch a progress bar until all of them are gone (0), or timeout (3).
 */
export async function deviceDeleteMany(ctx: CommandContext): Promise<number> {
  const filters = deviceFilters(ctx.values);
  const { body } = await ctx.api.request('DELETE', `/devices?${queryParams(filters)}`);
  const names: string[] = body.items.map((d: { name: string }) => d.name);
  for (const f of body.failed as { name: string; message: string }[])
    process.stderr.write(`${f.name}: deprovisioning did not start: ${f.message}\n`);
  if (!ctx.values.watch || names.length === 0) {
    if (ctx.json) ctx.out(JSON.stringify(body, null, 2));
    else ctx.out(names.length ? `deleting ${names.length} devices` : 'no device matches');
    return body.failed.length ? 1 : 0;
  }
  if (!ctx.json) process.stderr.write(`deleting ${names.length} devices\n`);
  const line = new StatusLine(process.stderr, 1000);
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    // (The same filters still select what is left of them; a device created since is not counted.)
    const left = new Set((await listEvery(ctx, '/devices', filters)).map((d: any) => d.metadata.name));
    const remaining = names.filter((n) => left.has(n)).length;
    line.update(`${progressBar(names.length - remaining, names.length)} deleted`, remaining === 0);
    if (remaining === 0) {
      line.done();
      if (ctx.json) ctx.out(JSON.stringify(body, null, 2));
      else ctx.out(`${names.length} devices deleted`);
      return body.failed.length ? 1 : 0;
    }
    if (Date.now() > deadline) {
      line.done();
      process.stderr.write(
        `timed out after ${ctx.timeoutMs / 1000} s; ${remaining} of ${names.length} not deleted yet\n`,
      );
      return 3;
    }
    await sleep(500);
  }
}
