/** node/store: the node's one LevelDB, split into buckets by key prefix. */
export * from './store.js'
