/** `wasmbed device rotate-certificate NAME [--watch]`. */
import { sleep } from '../lib.js';
import type { CommandContext } from '../command-context.js';

/**
 * `device rotate-certificate NAME`: the device's lifecycle issues a new certificate and delivers
 * it (POST …/rotate-certificate). The serial before the request is what tells the new one apart,
 * so --watch follows the device until it is Connected with another serial (0), Failed (1), or
 * timeout (3).
 */
export async function deviceRotateCertificate(ctx: CommandContext, name: string): Promise<number> {
  const path = `/devices/${encodeURIComponent(name)}`;
  const { body: before } = await ctx.api.request('GET', path);
  const oldSerial: string | undefined = before.status?.identity?.certSerial;
  const { body } = await ctx.api.request('POST', `${path}/rotate-certificate`);
  const requested = `${name}: certificate ${oldSerial ?? '(none)'} being replaced by ${body.workflowId}`;
  if (!ctx.values.watch) {
    ctx.out(ctx.json ? JSON.stringify(body) : `${requested}; wasmbed device get ${name} shows the new one`);
    return 0;
  }
  if (!ctx.json) process.stderr.write(`${requested}\n`);
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    const { body: d } = await ctx.api.request('GET', path);
    const identity = d.status?.identity;
    if (d.status?.phase === 'Connected' && identity?.certSerial && identity.certSerial !== oldSerial) {
      ctx.out(
        ctx.json
          ? JSON.stringify(d, null, 2)
          : `${name} certificate rotated: ${oldSerial ?? '(none)'} → ${identity.certSerial}${identity.notAfter ? `, valid until ${identity.notAfter}` : ''}`,
      );
      return 0;
    }
    if (d.status?.phase === 'Failed') {
      if (ctx.json) ctx.out(JSON.stringify(d, null, 2));
      process.stderr.write(
        `${name} Failed: ${d.status.message ?? 'unknown reason'} (wasmbed device retry ${name})\n`,
      );
      return 1;
    }
    if (Date.now() > deadline) {
      process.stderr.write(
        `timed out after ${ctx.timeoutMs / 1000} s; ${name} is ${d.status?.phase} with certificate ${identity?.certSerial ?? '(none)'}\n`,
      );
      return 3;
    }
    await sleep(300);
  }
}
