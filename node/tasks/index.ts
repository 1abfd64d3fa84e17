/**
 * node/tasks: the task lifecycle on this node (DESIGN.md "Task lifecycle"). The state machine
 * every change of a task goes through, the origin of the tasks submitted here, the wire every
 * hop takes (the origin's endpoint and the executor's OriginClient), the executor, the
 * MemoryEngine, and the service that binds them to gossip and streams.
 */
export * from './types.js'
export * from './errors.js'
export * from './state.js'
export * from './store.js'
export * from './origin/index.js'
export * from './wire.js'
export * from './origin-client.js'
export * from './executor.js'
export * from './memory.js'
export * from './service.js'
