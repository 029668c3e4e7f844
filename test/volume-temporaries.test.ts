/**
 * A writer killed mid-write (a device host killed with SIGKILL) leaves its temporary file in the
 * device's volume — for the memory image or the key, a second copy of the private key. Preparing
 * the volume again (every provisioning, and every key read) removes those of dead writers and
 * leaves a live writer's alone. Real files in a throwaway directory, a real dead process.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEVICE_KEY_FILE, ensureDeviceKey, prepareVolume } from '../runtimes/local-volume.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited (and been reaped): what a killed writer leaves behind. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('temporary files in a volume', () => {
  it('removes the ones of dead writers and keeps a live writer’s and everything else', () => {
    const volume = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-volume-'));
    dirs.push(volume);
    const dead = deadPid();
    const stale = [`memory.bin.${dead}.0badc0de.tmp`, `${DEVICE_KEY_FILE}.${dead}.12345678.tmp`];
    const kept = [`memory.bin.${process.pid}.0badc0de.tmp`, 'firmware.img', 'notes.1.tmp', 'uart.log'];
    for (const name of [...stale, ...kept]) fs.writeFileSync(path.join(volume, name), 'x', { mode: 0o600 });

    expect(prepareVolume(volume)).toBe(volume);
    expect(fs.readdirSync(volume).sort()).toEqual([...kept].sort());

    // Reading (or making) the device's key prepares the volume too.
    fs.writeFileSync(path.join(volume, stale[1]!), 'x', { mode: 0o600 });
    ensureDeviceKey(volume);
    expect(fs.readdirSync(volume).sort()).toEqual([...kept, DEVICE_KEY_FILE].sort());
    expect(fs.statSync(path.join(volume, DEVICE_KEY_FILE)).mode & 0o777).toBe(0o600);
  });
});
