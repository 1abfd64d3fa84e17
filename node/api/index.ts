/** node/api: the node's HTTP API (loopback by default) and its route groups. */
export * from './server.js'
export * from './node-routes.js'
export * from './skill-routes.js'
export * from './task-routes.js'
export * from './audit-routes.js'
export * from './auth-routes.js'
export * from './user-routes.js'
