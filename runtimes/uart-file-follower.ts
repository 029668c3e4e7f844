/**
 * Streams UART files that emulators running as local processes write into their volume (qemu's
 * `-serial file:`, Renode's CreateFileBackend) into the device log, as the docker runtime does
 * with container output. Virtual devices need none of this: their firmware log reaches the
 * gateway over the protocol.
 *
 * The read position is kept beside the file (`uart.log.offset`, with the file's inode), so a
 * worker that restarts resumes where the last one stopped: no line is stored twice and none is
 * lost. A file that was recreated is read from the top when it is shorter than the position or
 * has another inode (file systems may reuse an inode at once, so size is the reliable sign).
 *
 * The emulator only ever appends, so the file would grow for as long as the device lives (a
 * firmware that logs each heartbeat: megabytes a day). Once a megabyte more has been stored, the
 * part already read is given back to the file system — `fallocate --punch-hole` over it: the
 * file keeps its length and every offset (the emulator's, which may not have opened it to
 * append, and ours), the read part reads as zeros and takes no disk. Nothing unread is touched.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import type { Logger } from '../common/logger.js';
import type { DeviceLogEntry } from '../store/device-logs.js';
import { writeAtomically } from './local-volume.js';

export interface UartLogSink {
  append(entry: Omit<DeviceLogEntry, 'id'>): Promise<void> | void;
}

/** Read at most this much per file and poll: a chatty UART cannot stall the worker. */
const MAX_READ_BYTES = 256 * 1024;
/** A line longer than this is stored in pieces rather than held back for ever. */
const MAX_LINE_BYTES = 4096;
/** Free the read part of a file each time this much more has been read. */
const FREE_READ_EVERY_BYTES = 1024 * 1024;
/** Holes are punched in whole file-system blocks: a partial block would only be zeroed. */
const BLOCK_BYTES = 4096;

const execFileAsync = promisify(execFile);

export class UartFileFollower {
  private readonly files = new Map<string, string>();
  /** Per file: up to where its read part was freed (this process's doing; again after a restart). */
  private readonly freedTo = new Map<string, number>();
  /** Files whose file system cannot punch holes: asked once. */
  private readonly cannotFree = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** Passes run one after another, so no file is read by two at once. */
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(
    private readonly logs: UartLogSink,
    private readonly options: {
      intervalMs?: number;
      logger?: Logger;
      /** Free a file's read part each time this much more was read (default 1 MiB; tests). */
      freeReadEveryBytes?: number;
    } = {},
  ) {}

  /** Follows `file` for `device` (idempotent). */
  follow(device: string, file: string): void {
    this.files.set(device, file);
    if (!this.timer) {
      // A pass still under way (a slow store) makes the next tick skip, not pile up.
      this.timer = setInterval(() => {
        if (this.queued === 0) void this.pollOnce();
      }, this.options.intervalMs ?? 500);
      this.timer.unref();
    }
  }

  /** Stores what is left, then stops following the device. */
  unfollow(device: string): Promise<void> {
    return this.serialize(async () => {
      const file = this.files.get(device);
      if (file) await this.drain(device, file);
      this.files.delete(device);
      if (file) {
        this.freedTo.delete(file);
        this.cannotFree.delete(file);
      }
      if (this.files.size === 0) this.close();
    });
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get following(): string[] {
    return [...this.files.keys()];
  }

  pollOnce(): Promise<void> {
    return this.serialize(async () => {
      for (const [device, file] of this.files) await this.drain(device, file);
    });
  }

  /** `work` must not throw (drain logs its own errors). */
  private serialize(work: () => Promise<void>): Promise<void> {
    this.queued++;
    this.chain = this.chain.then(work).finally(() => this.queued--);
    return this.chain;
  }

  private async drain(device: string, file: string): Promise<void> {
    try {
      if (!fs.existsSync(file)) return;
      const { size, ino } = fs.statSync(file);
      const offsetFile = `${file}.offset`;
      // "<inode> <offset>": a recreated file (another inode, or shorter) is read from the top.
      const [storedIno, storedOffset] = fs.existsSync(offsetFile)
        ? fs.readFileSync(offsetFile, 'utf8').trim().split(' ').map(Number)
        : [];
      let offset = storedIno === ino && Number.isFinite(storedOffset) ? storedOffset! : 0;
      if (size < offset) offset = 0;
      if (size === offset) return;
      const buffer = Buffer.alloc(Math.min(size - offset, MAX_READ_BYTES));
      const fd = fs.openSync(file, 'r');
      try {
        fs.readSync(fd, buffer, 0, buffer.length, offset);
      } finally {
        fs.closeSync(fd);
      }
      let end = buffer.lastIndexOf(0x0a) + 1;
      if (end === 0) {
        if (buffer.length < MAX_LINE_BYTES) return; // a line still being written
        end = buffer.length;
      }
      const time = new Date().toISOString();
      for (const raw of buffer.subarray(0, end).toString('utf8').split('\n')) {
        // (NULs: a freed part read again — an offset file lost — reads as zeros, not as lines.)
        const line = raw.replace(/\r$/, '').replaceAll('\0', '').trimEnd();
        if (line)
          await this.logs.append({
            device,
            time,
            appId: null,
            kind: 'log',
            level: 1,
            message: `[uart] ${line}`,
          });
      }
      writeAtomically(offsetFile, `${ino} ${offset + end}`, 0o644);
      await this.freeRead(device, file, offset + end);
    } catch (err) {
      this.options.logger?.warn('reading the UART file failed', { device, file, error: String(err) });
    }
  }

  /** Gives the disk blocks of what was read (up to `readTo`) back, every FREE_READ_EVERY_BYTES. */
  private async freeRead(device: string, file: string, readTo: number): Promise<void> {
    if (this.cannotFree.has(file)) return;
    let freed = this.freedTo.get(file) ?? 0;
    if (readTo < freed) freed = 0; // a recreated file
    const upTo = readTo - (readTo % BLOCK_BYTES);
    if (upTo - freed < (this.options.freeReadEveryBytes ?? FREE_READ_EVERY_BYTES)) return;
    try {
      await execFileAsync('fallocate', ['--punch-hole', '--offset', '0', '--length', String(upTo), file]);
      this.freedTo.set(file, upTo);
    } catch (err) {
      this.cannotFree.add(file);
      this.options.logger?.warn('cannot free the read part of the UART file; it keeps growing', {
        device,
        file,
        error: String(err),
      });
    }
  }
}
