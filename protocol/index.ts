export * from './errors.js';
export * from './version.js';
export * from './frames.js';
export * from './fields.js';
export * from './device-messages.js';
export * from './client-messages.js';
export * from './scopes.js';
