/**
 * node/: the AAS daemon. Its composition root (`AasNode`), configuration, libp2p host,
 * gossip wiring, mesh upkeep, HTTP API, metrics, store and CLI.
 */
export * from './node.js'
export * from './config/index.js'
export * from './errors.js'
export { createMetrics, type Metrics } from './metrics.js'
export type { NodeInfo } from './api/index.js'
export { createLogger, type Logger } from './log.js'
