/**
 * node/auth: the people of a node and how they log in (issue 10 "People", "Login and
 * sessions"): users with roles in the node's LevelDB, scrypt password hashes, RFC 6238 TOTP codes
 * accepted once, throttling and locks, server-side sessions with a CSRF token each, and the
 * admin token that guards user management over the API.
 */
export * from './errors.js'
export * from './passwords.js'
export * from './totp.js'
export * from './throttle.js'
export * from './users.js'
export * from './sessions.js'
export * from './auth.js'
export * from './api-token.js'
