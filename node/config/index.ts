/**
 * node/config: the node's settings, resolved from defaults, a JSON file, `AAS_*` environment
 * variables and flags (later wins), validated as a whole with errors that name the field.
 */
// types only: the TypeBox schema (~120 ms to load) is needed by the build and by a stale validator, not by readers of settings
export type * from './schema.js'
export * from './defaults.js'
export * from './errors.js'
export * from './load.js'
export * from './validate.js'
