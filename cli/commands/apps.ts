/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI prints loosely typed JSON from the API */
/** `wasmbed app …`: list, get, promote, abort, stop, delete; deploy and update in app-versions.ts. */
import { CliError, age, table } from '../lib.js';
import { listEvery, need, type CommandContext } from '../command-context.js';
import { USAGE } from '../usage.js';
import { appDeviceStateLabel } from '../../common/app-device-label.js';
import { strategyText } from '../../common/strategy-text.js';
import { appDeploy, appUpdate } from './app-versions.js';

function appRow(a: any): (string | number | undefined)[] {
  const c = a.status?.counts ?? {};
  return [
    a.metadata.name,
    a.status?.phase,
    a.spec?.strategy?.type,
    `${c.running ?? 0}/${c.targeted ?? 0}`,
    c.failed ?? 0,
    age(a.metadata.creationTimestamp),
    a.status?.message ?? '',
  ];
}

/** A module as `app get` shows it: the start of its hash (as `git log` shows a commit) and its size. */
const moduleLabel = (m: { sha256: string; size: number }) => `${m.sha256.slice(0, 12)} (${m.size} bytes)`;

export async function app(
  ctx: CommandContext,
  sub: string | undefined,
  arg: string | undefined,
): Promise<number> {
  switch (sub) {
    case 'list': {
      const items = await listEvery(ctx, '/applications', {
        phase: ctx.values.phase,
        labelSelector: ctx.values.label?.join(','),
        namePrefix: ctx.values.prefix,
      });
      ctx.out(
        ctx.json
          ? JSON.stringify({ items }, null, 2)
          : table(['NAME', 'PHASE', 'STRATEGY', 'RUNNING', 'FAILED', 'AGE', 'MESSAGE'], items.map(appRow)),
      );
      return 0;
    }
    case 'get': {
      const { body } = await ctx.api.request(
        'GET',
        `/applications/${encodeURIComponent(need(arg, 'application name'))}`,
      );
      if (ctx.json) ctx.out(JSON.stringify(body, null, 2));
      else {
        ctx.out(table(['NAME', 'PHASE', 'STRATEGY', 'RUNNING', 'FAILED', 'AGE', 'MESSAGE'], [appRow(body)]));
        ctx.out('');
        // Which version is which: after an update, the one asked for, the one on the devices and
        // the one a failing rollout goes back to.
        ctx.out(`Strategy: ${strategyText(body.spec.strategy)}`);
        ctx.out(`Module:   ${moduleLabel(body.spec.module)}`);
        const { currentModule, previousModule } = body.status ?? {};
        if (currentModule && currentModule.sha256 !== body.spec.module.sha256)
          ctx.out(`Running:  ${moduleLabel(currentModule)}`);
        if (previousModule) ctx.out(`Previous: ${moduleLabel(previousModule)}`);
        ctx.out('');
        ctx.out(
          table(
            ['DEVICE', 'STATE', 'RESTARTS', 'ERROR'],
            // A device the rollout has not reached says so, with the state of what it kept.
            Object.entries(body.status.devices ?? {}).map(([d, s]: [string, any]) => [
              d,
              appDeviceStateLabel(s, body.status.awaitingPromotion),
              s.restarts,
              s.error ?? '',
            ]),
          ),
        );
      }
      return 0;
    }
    case 'promote':
    case 'abort':
    case 'stop':
    case 'delete': {
      const name = need(arg, 'application name');
      const { body } =
        sub === 'delete'
          ? await ctx.api.request('DELETE', `/applications/${encodeURIComponent(name)}`)
          : await ctx.api.request('POST', `/applications/${encodeURIComponent(name)}/${sub}`);
      ctx.out(ctx.json ? JSON.stringify(body) : `${sub} ${name}: ok`);
      return 0;
    }
    case 'deploy':
      return appDeploy(ctx, need(arg, 'the .wasm file'));
    case 'update':
      return appUpdate(ctx, need(arg, 'application name'), ctx.more[0]);
    default:
      throw new CliError(`unknown app command "${sub ?? ''}"\n\n${USAGE}`, 2);
  }
}
