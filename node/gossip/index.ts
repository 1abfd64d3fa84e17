/** node/gossip: gossipsub wiring: validation adapter, metrics, typed handlers, publishing. */
export * from './router.js'
