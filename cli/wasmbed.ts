/**
 * `wasmbed`: the platform from the command line, through the same REST API as the dashboard
 * (WASMBED_URL, default http://127.0.0.1:3000; WASMBED_API_TOKEN when it listens beyond
 * localhost). Exit codes: 0 done, 1 the operation failed, 2 bad usage, 3 timed out.
 *
 * The entry point: it parses the command line (command-line.ts), builds the context every command
 * runs with (command-context.ts) and hands it to the command's file in commands/.
 */
import fs from 'node:fs';
import { parseCommandLine } from './command-line.js';
import { need, type CommandContext } from './command-context.js';
import { ApiClient, CliError } from './lib.js';
import { USAGE } from './usage.js';
import { app } from './commands/apps.js';
import { ca } from './commands/ca.js';
import { claimCertCreate } from './commands/claim-certs.js';
import { device } from './commands/devices.js';
import { enrollmentToken } from './commands/enrollment-tokens.js';
import { enrollment } from './commands/enrollments.js';
import { logs } from './commands/logs.js';
import { status } from './commands/status.js';
import { up } from './commands/up.js';
import { errorMessage } from '../common/errors.js';

// What test/cli-reference.test.ts (and anyone checking a command line) reads from here.
export { COMMAND_OPTIONS, OPTIONS, parseCommandLine, type ParsedCommandLine } from './command-line.js';
export { USAGE } from './usage.js';

export async function main(
  argv: string[],
  out: (text: string) => void = (t) => process.stdout.write(`${t}\n`),
): Promise<number> {
  const { key, values, positionals } = parseCommandLine(argv);
  const [command, sub, arg] = positionals;
  if (key === undefined) {
    out(USAGE);
    return command || values.help ? 0 : 2;
  }
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json')
    throw new CliError(`-o must be table or json, not "${output}"`, 2);
  const timeout = values.timeout === undefined ? 180 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new CliError('--timeout must be a positive number of seconds', 2);
  const baseUrl = (values.url ?? process.env.WASMBED_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
  const ctx: CommandContext = {
    api: new ApiClient(baseUrl, process.env.WASMBED_API_TOKEN || undefined),
    json: output === 'json',
    values,
    more: positionals.slice(3),
    timeoutMs: timeout * 1000,
    out,
  };
  // The parsed key names the command with its aliases resolved (`apps ls` is `app list`): the
  // words as typed reached the groups, and `apps ls`, which parseCommandLine takes, was refused
  // as an unknown app command.
  const [group, subcommand] = key.split(' ');
  switch (group) {
    case 'up':
      return up();
    case 'status':
      return status(ctx);
    case 'logs':
      return logs(ctx, need(sub, 'device name'));
    case 'app':
      return app(ctx, subcommand, arg);
    case 'enrollment-token':
      return enrollmentToken(ctx, subcommand, arg);
    case 'claim-cert':
      if (subcommand !== 'create')
        throw new CliError(`unknown claim-cert command "${sub ?? ''}"\n\n${USAGE}`, 2);
      return claimCertCreate(ctx, need(arg, 'device name'));
    case 'enrollment':
      return enrollment(ctx, subcommand, arg);
    case 'ca':
      return ca(ctx);
    case 'device':
      return device(ctx, subcommand, arg);
    default:
      throw new CliError(`unknown command "${command}"\n\n${USAGE}`, 2);
  }
}

const invokedDirectly =
  process.argv[1] && /cli[\\/](main\.mjs|wasmbed\.ts)$/.test(fs.realpathSync(process.argv[1]));
/**
 * Exits once stdout and stderr have taken everything: written to a pipe they are asynchronous,
 * and exiting at once cut `wasmbed device list -o json | jq` off at 64 KiB. (Waiting for the
 * event loop to empty instead would wait for fetch's idle keep-alive sockets.)
 */
function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

if (invokedDirectly) {
  main(process.argv.slice(2)).then(exitWhenFlushed, (err: unknown) => {
    process.stderr.write(`wasmbed: ${errorMessage(err)}\n`);
    exitWhenFlushed(err instanceof CliError ? err.exitCode : 1);
  });
}
