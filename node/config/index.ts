/**
 * node/config: the node's settings, resolved from defaults, a JSON file, `AAS_*` environment
 * variables and flags (later wins), validated as a whole with errors that name the field.
 */
export * from './schema.js'
export * from './defaults.js'
export * from './errors.js'
export * from './load.js'
