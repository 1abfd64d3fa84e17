/**
 * node/skills: the node's skill library service. It wires the skill index (skills/index) and
 * the bundle protocol (skills/fetch) to this node's host, gossip, mesh, blob store and
 * metrics: local publishes, releases heard on gossip or by index sync, bundles served and
 * fetched from providers.
 */
export * from './errors.js'
export * from './service.js'
