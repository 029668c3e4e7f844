#!/usr/bin/env node
/**
 * A STAND-IN for the `renode` executable, for tests only. Renode (and the Zephyr SDK) cannot be
 * installed on the machine these tests run on (no network but package registries; the
 * antmicro/renode image cannot be pulled), so this small Node script takes its place: it
 * implements the subset of Renode the renode runtime uses, as Renode defines it, and records
 * what it was told so tests can check the runtime's side of the contract. It does not emulate
 * a CPU: no firmware runs, so no TLS session is ever made through it.
 *
 * - Command line as Renode's option parser (src/Renode/Options.cs): --disable-xwt (alias
 *   --disable-gui), --hide-log, --console, -p/--plain, -P/--port N, --pid-file F, -e/--execute
 *   CMD (repeatable, run after the optional script), one optional script path. Any other
 *   option is refused, as Renode refuses it.
 * - Monitor on --port: telnet negotiation, then `(<context>) ` prompts; one command per line.
 * - Commands: include/i @file, logFile @f, mach create "n", mach set "n", machine
 *   LoadPlatformDescription @repl, sysbus LoadELF @elf (must be an ELF), <uart>
 *   CreateFileBackend @f true, <eth> MAC "m", emulation CreateSwitch/CreateTap, connector
 *   Connect, sysbus WriteDoubleWord/ReadDoubleWord, start/s, pause/p, machine Reset,
 *   machine IsPaused, quit/q. Anything else: "No such command or device", as Renode says.
 * - Records: `<volume>/renode-standin.log` (volume = the directory of the first included
 *   script): the argv, then every command with where it came from (script/monitor), and on
 *   `start` a STATE line with the endpoint block decoded from the words written so far.
 * - UART: on `start` it writes what a booting firmware would to the CreateFileBackend file:
 *   a banner and the endpoint it found in RAM (or that the block is missing).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const argv = process.argv.slice(2);
const options = { port: -1, execute: [], script: undefined, pidFile: undefined };
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  if (['--disable-xwt', '--disable-gui', '--hide-log', '--console', '-p', '--plain'].includes(arg)) continue;
  if (arg === '-P' || arg === '--port') options.port = Number(argv[++i]);
  else if (arg === '-e' || arg === '--execute') options.execute.push(argv[++i]);
  else if (arg === '--pid-file') options.pidFile = argv[++i];
  else if (arg.startsWith('-')) {
    process.stderr.write(`Unknown option: ${arg}\n`);
    process.exit(1);
  } else if (options.script === undefined) options.script = arg;
  else {
    process.stderr.write(`Unexpected argument: ${arg}\n`);
    process.exit(1);
  }
}
if (options.pidFile) fs.writeFileSync(options.pidFile, String(process.pid));

let record; // path of renode-standin.log, known once the first script is included
const pending = [`argv\t${JSON.stringify(argv)}`];
function note(line) {
  if (!record) pending.push(line);
  else fs.appendFileSync(record, `${line}\n`);
}

const machines = new Set();
let context = 'monitor';
let paused = true;
let uartFile;
const memory = new Map(); // word address -> u32

const ENDPOINT_BLOCK = 0x20001000;
const ENDPOINT_MAGIC = 0x50454257;

function crc32(bytes) {
  let crc = ~0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function readBytes(address, length) {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4) {
    const word = Buffer.alloc(4);
    word.writeUInt32LE(memory.get(address + i) ?? 0);
    word.copy(out, i, 0, Math.min(4, length - i));
  }
  return out;
}

/** What the firmware would find at the endpoint block: the endpoint, or why not. */
function endpointInRam() {
  const head = readBytes(ENDPOINT_BLOCK, 8);
  if (head.readUInt32LE(0) !== ENDPOINT_MAGIC) return { error: 'endpoint block missing' };
  const length = head.readUInt16LE(6);
  const block = readBytes(ENDPOINT_BLOCK, 8 + length + 4);
  if (crc32(block.subarray(0, 8 + length)) !== block.readUInt32LE(8 + length))
    return { error: 'endpoint block CRC mismatch' };
  return { endpoint: block.subarray(8, 8 + length).toString('ascii') };
}

class CommandError extends Error {}

const file = (token) => {
  if (!token?.startsWith('@')) throw new CommandError(`expected a path (@file), got ${token}`);
  return token.slice(1);
};
const unquote = (token) => token?.replace(/^"(.*)"$/, '$1');
const needMachine = () => {
  if (!machines.has(context)) throw new CommandError('No machine selected');
};

function include(script, source) {
  if (!record) {
    record = path.join(path.dirname(script), 'renode-standin.log');
    fs.appendFileSync(record, pending.map((l) => `${l}\n`).join(''));
  }
  if (!fs.existsSync(script)) throw new CommandError(`Could not find file '${script}'`);
  for (const raw of fs.readFileSync(script, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    execute(line, `${source}:${path.basename(script)}`);
  }
  return '';
}

/** Runs one command; returns its output or throws CommandError (Renode's error reply). */
function execute(line, source) {
  note(`${source}\t${line}`);
  const words = line.match(/"[^"]*"|\S+/g) ?? [];
  const [first, second, third] = words;
  switch (first) {
    case 'include':
    case 'i':
      return include(file(second), source);
    case 'logFile':
      fs.writeFileSync(file(second), 'stand-in renode log\n');
      return '';
    case 'mach':
      if (second === 'create') {
        context = unquote(third) ?? `machine-${machines.size}`;
        machines.add(context);
        return '';
      }
      if (second === 'set') {
        if (!machines.has(unquote(third))) throw new CommandError(`Machine ${third} not found`);
        context = unquote(third);
        return '';
      }
      throw new CommandError(`mach ${second}: not supported by the stand-in`);
    case 'start':
    case 's': {
      needMachine();
      paused = false;
      const found = endpointInRam();
      note(`STATE\tstarted\t${found.endpoint ? `endpoint=${found.endpoint}` : found.error}`);
      if (uartFile) {
        fs.appendFileSync(
          uartFile,
          `*** stand-in for Renode: ${context} started (no CPU is emulated) ***\n` +
            (found.endpoint ? `wasmbed: endpoint=${found.endpoint}\n` : `wasmbed: ${found.error}\n`),
        );
      }
      return 'Starting emulation...';
    }
    case 'pause':
    case 'p':
      paused = true;
      return 'Pausing emulation...';
    case 'quit':
    case 'q':
      note('STATE\tquit');
      setTimeout(() => process.exit(0), 10);
      return '';
    case 'machine':
      needMachine();
      if (second === 'LoadPlatformDescription') {
        if (!file(third).startsWith('platforms/')) throw new CommandError(`no such platform ${third}`);
        return '';
      }
      if (second === 'IsPaused') return paused ? 'True' : 'False';
      if (second === 'Reset') {
        memory.clear(); // RAM comes back empty; the ELF is loaded again
        return '';
      }
      throw new CommandError(`machine ${second}: not supported by the stand-in`);
    case 'sysbus':
      needMachine();
      if (second === 'LoadELF') {
        const elf = file(third);
        if (!fs.existsSync(elf)) throw new CommandError(`Could not find file '${elf}'`);
        const data = fs.readFileSync(elf);
        if (data.subarray(0, 4).toString('latin1') !== '\x7fELF')
          throw new CommandError(`${elf} is not an ELF`);
        note(`ELF\tsha256=${crypto.createHash('sha256').update(data).digest('hex')}`);
        return '';
      }
      if (second === 'WriteDoubleWord') {
        memory.set(Number(third), Number(words[3]) >>> 0);
        return '';
      }
      if (second === 'ReadDoubleWord') {
        return `0x${(memory.get(Number(third)) ?? 0).toString(16).toUpperCase().padStart(8, '0')}`;
      }
      throw new CommandError(`sysbus ${second}: not supported by the stand-in`);
    case 'emulation':
    case 'connector':
      return '';
    default:
      if (first?.startsWith('sysbus.') && second === 'CreateFileBackend') {
        uartFile = file(third);
        fs.writeFileSync(uartFile, '');
        return '';
      }
      if (first?.startsWith('sysbus.') && second === 'MAC') return '';
      throw new CommandError(`No such command or device: ${first}`);
  }
}

function run(line, source) {
  try {
    return execute(line, source);
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    note(`ERROR\t${err.message}`);
    return `There was an error executing command '${line}'\n${err.message}`;
  }
}

const prompt = () => `(${context}) `;

if (options.port > 0) {
  const server = net.createServer((socket) => {
    socket.setEncoding('latin1');
    // IAC WILL ECHO, IAC WILL SUPPRESS-GO-AHEAD: what Renode's telnet server sends first.
    socket.write('\xff\xfb\x01\xff\xfb\x03', 'latin1');
    socket.write(`Renode stand-in (tests only)\n${prompt()}`);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, '').trim();
        buffer = buffer.slice(newline + 1);
        if (!line) {
          socket.write(prompt());
          continue;
        }
        const output = run(line, 'monitor');
        if (/^(quit|q)$/.test(line)) {
          socket.end();
          return;
        }
        // Renode echoes the command, prints its output, then the prompt.
        socket.write(`${line}\n${output ? `${output}\n` : ''}${prompt()}`);
      }
    });
    socket.on('error', () => undefined);
  });
  server.listen(options.port, '0.0.0.0');
}

const startup = [];
if (options.script) startup.push(`include @${options.script}`);
startup.push(...options.execute);
for (const command of startup) {
  const out = run(command, 'startup');
  if (out.startsWith('There was an error')) process.stdout.write(`${out}\n`);
}
if (options.port <= 0) process.exit(0);
process.on('SIGTERM', () => process.exit(0));
