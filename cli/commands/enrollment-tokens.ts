/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/** `wasmbed enrollment-token create | list | revoke` (docs/enrollment.md). */
import { CliError, table } from '../lib.js';
import { listEvery, need, type CommandContext } from '../command-context.js';
import { USAGE } from '../usage.js';

export async function enrollmentToken(
  ctx: CommandContext,
  sub: string | undefined,
  arg: string | undefined,
): Promise<number> {
  switch (sub) {
    case 'create': {
      const body: Record<string, unknown> = {};
      if (ctx.values.name) body.name = ctx.values.name;
      if (ctx.values.ttl) body.ttl = /^\d+$/.test(ctx.values.ttl) ? Number(ctx.values.ttl) : ctx.values.ttl;
      const { body: token } = await ctx.api.request('POST', '/enrollment-tokens', body);
      if (ctx.json) ctx.out(JSON.stringify(token));
      else {
        ctx.out(token.token);
        process.stderr.write(
          `token ${token.id} for ${token.name ?? 'any device name'}, single use, expires ${token.expiresAt}; it is not shown again\n`,
        );
      }
      return 0;
    }
    case 'list': {
      const items = await listEvery(ctx, '/enrollment-tokens');
      if (ctx.json) ctx.out(JSON.stringify({ items }, null, 2));
      else
        ctx.out(
          table(
            ['ID', 'KIND', 'DEVICE', 'STATE', 'EXPIRES', 'USED BY'],
            items.map((c: any) => [c.id, c.kind, c.deviceName ?? '*', c.state, c.expiresAt, c.usedBy ?? '']),
          ),
        );
      return 0;
    }
    case 'revoke': {
      const id = need(arg, 'token id');
      const { body } = await ctx.api.request('DELETE', `/enrollment-tokens/${encodeURIComponent(id)}`);
      ctx.out(ctx.json ? JSON.stringify(body) : `${id} ${body.state}`);
      return 0;
    }
    default:
      throw new CliError(`unknown enrollment-token command "${sub ?? ''}"\n\n${USAGE}`, 2);
  }
}
