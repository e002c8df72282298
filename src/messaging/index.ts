/** The oslo.messaging layer: see runtime.ts for the entry point. */
export * from './types.js';
export * from './options.js';
export * from './declarations.js';
export * from './tls.js';
export * from './transport-url.js';
export * from './pyjson.js';
export * from './envelope.js';
export * from './context.js';
export * from './failure.js';
export * from './dedup.js';
export * from './dispatcher.js';
export * from './connection.js';
export * from './transport.js';
export * from './server.js';
export * from './client.js';
export * from './runtime.js';
