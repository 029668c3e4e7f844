/** WebAssembly apps on the virtual device: the runtime, the module checks and the host API table. */
export { AppRuntime, type AppOpResult, type AppRuntimeOptions, type DeployRequest } from './runtime.js';
export { AppThreadPool, DEFAULT_APP_THREADS, type AppThreadPoolOptions } from './pool.js';
export {
  capMemory,
  checkAppModule,
  inspectModule,
  ModuleFormatError,
  type AppCheck,
  type AppCheckOptions,
  type ModuleInfo,
} from './validate.js';
export {
  appMemoryPagesFor,
  DEFAULT_CPU_MS_PER_CALL,
  DEFAULT_ENTRY,
  formatFuncType,
  HOST_FUNCTIONS,
  HOST_LIMITS,
  HOST_MODULE,
  SENSOR_CHANNELS,
  SENSOR_NO_READING,
  WASM_PAGE_BYTES,
  type FuncType,
  type ValType,
} from './host-api.js';
