/**
 * skills/sandbox: runs a skill once in a Podman container with hard limits and no way out,
 * and reports how it ended. Host detection picks the OCI runtime and refuses to run where
 * limits would be silently ignored.
 */
export * from './cgroup.js'
export * from './errors.js'
export * from './host.js'
export * from './options.js'
export * from './result.js'
export * from './runner.js'
