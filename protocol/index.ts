/** Public surface of the device wire protocol codec (docs/protocol.md). */
export * from './errors.js';
export * from './cbor.js';
export * from './messages.js';
export * from './framing.js';
