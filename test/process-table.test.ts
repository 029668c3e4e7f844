/**
 * Finding a process by its command line (runtimes/process-table.ts), as the host supervisor checks
 * on the device host it found before: the live process with every marker passes; one without a
 * marker, another process, and the same pid once the process exited do not. Real processes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { findProcesses, isProcessWith } from '../runtimes/process-table.js';

describe('isProcessWith', () => {
  it('knows a live process by its markers, and not once it exited', async () => {
    const markers = [`--wasmbed-host=pt-${process.pid}`, '--home=/nonexistent/process-table-test'];
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', ...markers], {
      stdio: 'ignore',
    });
    const pid = child.pid!;
    try {
      expect(isProcessWith(pid, markers)).toBe(true);
      expect(findProcesses(markers)).toEqual([pid]); // the full scan agrees
      expect(isProcessWith(pid, [...markers, '--another-marker'])).toBe(false);
      expect(isProcessWith(process.pid, markers)).toBe(false);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    expect(isProcessWith(pid, markers)).toBe(false);
    expect(findProcesses(markers)).toEqual([]);
  });
});
