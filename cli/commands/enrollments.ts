/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/** `wasmbed enrollment list | approve | reject`: boards waiting for an operator (docs/enrollment.md). */
import { CliError, age, table } from '../lib.js';
import { listEvery, need, type CommandContext } from '../command-context.js';
import { USAGE } from '../usage.js';

export async function enrollment(
  ctx: CommandContext,
  sub: string | undefined,
  arg: string | undefined,
): Promise<number> {
  switch (sub) {
    case 'list': {
      const items = await listEvery(ctx, '/enrollments');
      if (ctx.json) ctx.out(JSON.stringify({ items }, null, 2));
      else
        ctx.out(
          table(
            ['NAME', 'CSR FINGERPRINT', 'KEY', 'SOURCE', 'CLAIM', 'AGE'],
            items.map((e: any) => [
              e.name,
              e.csrFingerprint,
              e.keyType ?? '',
              e.sourceAddress ?? '',
              e.claim ?? '',
              age(e.requestedAt ?? undefined),
            ]),
          ),
        );
      return 0;
    }
    case 'approve':
    case 'reject': {
      const name = need(arg, 'device name');
      const body = sub === 'reject' && ctx.values.reason ? { reason: ctx.values.reason } : undefined;
      const { body: result } = await ctx.api.request(
        'POST',
        `/enrollments/${encodeURIComponent(name)}/${sub}`,
        body,
      );
      ctx.out(
        ctx.json
          ? JSON.stringify(result)
          : `${sub === 'approve' ? 'approved' : 'rejected'} ${name} (${result.workflowId})`,
      );
      return 0;
    }
    default:
      throw new CliError(`unknown enrollment command "${sub ?? ''}"\n\n${USAGE}`, 2);
  }
}
