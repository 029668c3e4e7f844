/** `wasmbed ca`: the CA certificate devices trust, as PEM. */
import type { CommandContext } from '../command-context.js';

export async function ca(ctx: CommandContext): Promise<number> {
  ctx.out(String((await ctx.api.request('GET', '/pki/ca.pem')).body).trimEnd());
  return 0;
}
