/** `wasmbed claim-cert create DEVICE`: a claim certificate and its key written for a factory board. */
import fs from 'node:fs';
import path from 'node:path';
import type { CommandContext } from '../command-context.js';

export async function claimCertCreate(ctx: CommandContext, name: string): Promise<number> {
  const body: Record<string, unknown> = { name };
  if (ctx.values.ttl) body.ttl = /^\d+$/.test(ctx.values.ttl) ? Number(ctx.values.ttl) : ctx.values.ttl;
  const { body: claim } = await ctx.api.request('POST', '/claim-certificates', body);
  const dir = path.resolve(ctx.values.out ?? '.');
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.claim.crt`);
  const key = path.join(dir, `${name}.claim.key`);
  fs.writeFileSync(cert, claim.certPem);
  fs.writeFileSync(key, claim.keyPem, { mode: 0o600 });
  ctx.out(
    ctx.json ? JSON.stringify({ id: claim.id, cert, key, expiresAt: claim.expiresAt }) : `${cert}\n${key}`,
  );
  if (!ctx.json)
    process.stderr.write(`claim certificate ${claim.id} for ${name}, expires ${claim.expiresAt}\n`);
  return 0;
}
