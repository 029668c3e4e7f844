/**
 * Lists and batches through the REST API of a real platform (Temporal, worker, gateway, web,
 * virtual devices): a batch with a bad item, a repeated or a taken name is refused as a whole
 * with an error naming the item, and creates nothing; a good batch provisions every device,
 * which its progress shows; list endpoints page with limit/continue (nothing twice, nothing
 * missed while devices are added) and filter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { waitFor } from './support/wait.js';

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform?.stop();
});

const deviceNames = async (query = '') => {
  const res = await platform.api('GET', `/api/v1/devices${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body.items as { metadata: { name: string } }[]).map((d) => d.metadata.name);
};

/** Every page of a list, following metadata.continue; `between` runs after each page. */
async function walk(path: string, between?: () => Promise<void>): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res = await platform.api(
      'GET',
      `${path}${token ? `${sep}continue=${encodeURIComponent(token)}` : ''}`,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    names.push(...res.body.items.map((i: { metadata: { name: string } }) => i.metadata.name));
    token = res.body.metadata.continue;
    await between?.();
  } while (token);
  return names;
}

describe('bad batches create nothing', () => {
  it('names the bad item, the repeated name, the taken name', async () => {
    const before = await deviceNames();
    const refused = async (body: unknown, status: number, field: string | undefined, message: RegExp) => {
      const res = await platform.api('POST', '/api/v1/device-batches', body);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      if (field) expect(res.body.error.field).toBe(field);
      expect(res.body.error.message).toMatch(message);
    };
    await refused(
      {
        devices: [{ name: 'ok-1' }, { name: 'ok-2' }, { name: 'ok-3' }, { name: 'bad-4', mcuType: 'Esp32' }],
      },
      400,
      'devices[3].mcuType',
      /Esp32/,
    );
    await refused(
      { devices: [{ name: 'twice' }, { name: 'other' }, { name: 'twice' }] },
      400,
      'devices[2].name',
      /devices\[0\]/,
    );
    await refused({ count: 3, prefix: 'Not_A_Label' }, 400, 'prefix', /DNS label/);
    await refused({ count: 0, prefix: 'zero' }, 400, 'count', /count/);
    await refused(
      { count: 2, prefix: 'both', devices: [{ name: 'x' }] },
      400,
      undefined,
      /one of count, devices/,
    );
    await refused({ devices: [{ name: 'x' }], start: 3 }, 400, 'start', /start goes with count/);
    await refused(
      { count: 2, prefix: 'qemu-wifi', runtime: 'qemu', mcuType: 'Nrf52840DK' },
      400,
      'mcuType',
      /cannot run with runtime "qemu"/,
    );
    // A taken name: one device exists, then a batch that would reuse its name.
    const single = await platform.api('POST', '/api/v1/devices', { name: 'taken-2' });
    expect(single.status).toBe(202);
    await refused({ count: 3, prefix: 'taken' }, 409, undefined, /"taken-2" already exists/);
    const after = await deviceNames();
    expect(after.filter((n) => !before.includes(n))).toEqual(['taken-2']);
    expect(await deviceNames('?namePrefix=taken')).toEqual(['taken-2']);
  });
});

describe('a good batch', () => {
  it('creates and provisions every device, and its progress shows it', async () => {
    const res = await platform.api('POST', '/api/v1/device-batches', {
      name: 'lab-batch',
      count: 4,
      prefix: 'bat',
      labels: { site: 'lab' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ name: 'lab-batch', total: 4, started: 4, failed: [] });
    expect(res.body.devices).toEqual(['bat-1', 'bat-2', 'bat-3', 'bat-4']);
    const device = (await platform.api('GET', '/api/v1/devices/bat-3')).body;
    expect(device.metadata.labels).toEqual({ site: 'lab', 'wasmbed.io/batch': 'lab-batch' });
    expect(device.status.workflowId).toBe('provision-bat-3');

    let progress: { total: number; counts: Record<string, number>; settled: boolean } | undefined;
    await waitFor(
      'batch lab-batch settled',
      async () => {
        progress = (await platform.api('GET', '/api/v1/device-batches/lab-batch')).body;
        return progress!.settled;
      },
      120_000,
      500,
    );
    expect(progress).toEqual({ name: 'lab-batch', total: 4, counts: { Connected: 4 }, settled: true });
    // The same batch name again is refused; an unknown batch is 404.
    const again = await platform.api('POST', '/api/v1/device-batches', {
      name: 'lab-batch',
      count: 1,
      prefix: 'more',
    });
    expect(again.status).toBe(409);
    expect((await platform.api('GET', '/api/v1/device-batches/nope')).status).toBe(404);
  });

  it('takes a list of specs with shared fields', async () => {
    const res = await platform.api('POST', '/api/v1/device-batches', {
      name: 'specs',
      labels: { group: 'g' },
      devices: [
        { name: 'spec-a', labels: { extra: 'y' } },
        { name: 'spec-b', mcuType: 'NucleoF767zi' },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const a = (await platform.api('GET', '/api/v1/devices/spec-a')).body;
    const b = (await platform.api('GET', '/api/v1/devices/spec-b')).body;
    expect(a.metadata.labels).toEqual({ group: 'g', extra: 'y', 'wasmbed.io/batch': 'specs' });
    expect(b.spec.mcuType).toBe('NucleoF767zi');
  });
});

describe('list paging and filters', () => {
  it('pages devices with limit/continue: nothing twice, nothing missed while devices are added', async () => {
    const before = await deviceNames();
    expect(before.length).toBeGreaterThanOrEqual(7);
    let added = 0;
    const seen = await walk('/api/v1/devices?limit=2', async () => {
      // Names sorting first, last and in between, created while the walk goes on (not bat-…:
      // once Connected, the filter test below would count them).
      for (const name of [`aa-${added}`, `zz-${added}`, `m-${added}`]) {
        const res = await platform.api('POST', '/api/v1/devices', { name });
        expect(res.status).toBe(202);
      }
      added++;
    });
    for (const name of before)
      expect(
        seen.filter((n) => n === name),
        name,
      ).toHaveLength(1);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort());
  });

  it('filters by label selector, name prefix, phase, runtime and gateway', async () => {
    expect(await walk('/api/v1/devices?limit=3&labelSelector=wasmbed.io/batch%3Dlab-batch')).toEqual([
      'bat-1',
      'bat-2',
      'bat-3',
      'bat-4',
    ]);
    expect(await deviceNames('?labelSelector=site%3Dlab,wasmbed.io/batch!%3Dspecs')).toEqual([
      'bat-1',
      'bat-2',
      'bat-3',
      'bat-4',
    ]);
    expect(await deviceNames('?namePrefix=spec-')).toEqual(['spec-a', 'spec-b']);
    expect(await deviceNames('?phase=Connected&namePrefix=bat-')).toEqual([
      'bat-1',
      'bat-2',
      'bat-3',
      'bat-4',
    ]);
    expect(await deviceNames('?runtime=qemu')).toEqual([]);
    expect(await deviceNames('?gateway=gateway-0&namePrefix=bat-')).toEqual([
      'bat-1',
      'bat-2',
      'bat-3',
      'bat-4',
    ]);
    expect(await deviceNames('?mcuType=NucleoF767zi')).toEqual(['spec-b']);
  });

  it('refuses bad paging input, naming the parameter', async () => {
    const bad = async (query: string, field: string) => {
      const res = await platform.api('GET', `/api/v1/devices${query}`);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.field).toBe(field);
    };
    await bad('?limit=0', 'limit');
    await bad('?limit=1001', 'limit');
    await bad('?limit=ten', 'limit');
    await bad('?continue=garbage', 'continue');
    await bad('?labelSelector=%3Dx', 'labelSelector');
    const token = (await platform.api('GET', '/api/v1/devices?limit=1&phase=Connected')).body.metadata
      .continue;
    await bad(`?limit=1&phase=Failed&continue=${token}`, 'continue');
  });

  it('pages applications, gateways, enrollments and enrollment tokens the same way', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await platform.api('POST', '/api/v1/enrollment-tokens', { ttl: '1h' })).status).toBe(201);
    }
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const res = await platform.api(
        'GET',
        `/api/v1/enrollment-tokens?limit=2${token ? `&continue=${token}` : ''}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      ids.push(...res.body.items.map((c: { id: string }) => c.id));
      token = res.body.metadata.continue;
    } while (token);
    expect(ids).toHaveLength(3);
    expect(ids).toEqual([...ids].sort());
    expect(await walk('/api/v1/gateways?limit=1')).toEqual(['gateway-0']);
    expect(await walk('/api/v1/applications?limit=1')).toEqual([]);
    const enrollments = await platform.api('GET', '/api/v1/enrollments?limit=5');
    expect(enrollments.body).toEqual({ items: [], metadata: {} });
  });
});
