/* global WebAssembly */
/**
 * Prepares app modules for the shared app threads (app-thread.mjs), off the device's event
 * loop: Binaryen is slow to load and takes tens to hundreds of ms per module. Plain JavaScript
 * so it starts without a TypeScript loader (the device bundle bundles it with Binaryen).
 *
 * The transform (see prepare.ts for why):
 * 1. fuel: Binaryen's `log-execution` pass calls an imported `log_execution` at every function
 *    entry and loop header; that import is replaced by an internal function that decrements a
 *    mutable global and, when it reaches 0, refills it from `wasmbed_internal.out_of_fuel()`;
 * 2. Asyncify, for `wasmbed.sleep_ms` only, so that a sleep unwinds to the thread's scheduler.
 * A module without a memory gets a one-page one (exported as `wasmbed_asyncify_memory`) for
 * Asyncify's data; the app cannot see it.
 *
 * Message in: {id, bytes, fuel}. Out: {id, module} (a compiled WebAssembly.Module), or
 * {id, error, invalid}: invalid when the engine itself rejects the module.
 */
import { parentPort } from 'node:worker_threads';
import binaryen from 'binaryen';

const port = parentPort;
if (!port) throw new Error('transform-worker must run in a worker thread');

const F = binaryen.Features;
/** What apps may use; Features.All would emit encodings Node 20 rejects. */
const FEATURES =
  F.MVP |
  F.MutableGlobals |
  F.BulkMemory |
  F.BulkMemoryOpt |
  F.SignExt |
  F.NontrappingFPToInt |
  F.Multivalue |
  F.SIMD128 |
  F.CallIndirectOverlong;

function transform(bytes, fuel) {
  // Keep the names section: a trap's reason names the app's function.
  binaryen.setDebugInfo(true);
  const m = binaryen.readBinary(bytes);
  try {
    m.setFeatures(FEATURES);
    if (!m.hasMemory()) m.setMemory(1, 1, 'wasmbed_asyncify_memory');
    m.runPasses(['log-execution']);
    m.removeFunction('log_execution');
    m.addGlobal('wasmbed_fuel', binaryen.i32, true, m.i32.const(fuel));
    m.addFunctionImport(
      'wasmbed_out_of_fuel',
      'wasmbed_internal',
      'out_of_fuel',
      binaryen.none,
      binaryen.i32,
    );
    const left = () => m.global.get('wasmbed_fuel', binaryen.i32);
    m.addFunction(
      'log_execution',
      binaryen.createType([binaryen.i32]),
      binaryen.none,
      [],
      m.block(null, [
        m.global.set('wasmbed_fuel', m.i32.sub(left(), m.i32.const(1))),
        m.if(
          m.i32.le_s(left(), m.i32.const(0)),
          m.global.set('wasmbed_fuel', m.call('wasmbed_out_of_fuel', [], binaryen.i32)),
        ),
      ]),
    );
    binaryen.setPassArgument('asyncify-imports', 'wasmbed.sleep_ms');
    m.runPasses(['asyncify']);
    if (!m.validate()) throw new Error('the transformed module does not validate');
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

port.on('message', async ({ id, bytes, fuel }) => {
  try {
    // The engine's own verdict first: its message names what is wrong with the module.
    await WebAssembly.compile(bytes);
  } catch (err) {
    port.postMessage({ id, error: err instanceof Error ? err.message : String(err), invalid: true });
    return;
  }
  try {
    const module = await WebAssembly.compile(transform(bytes, fuel));
    port.postMessage({ id, module });
  } catch (err) {
    port.postMessage({ id, error: err instanceof Error ? err.message : String(err), invalid: false });
  }
});
