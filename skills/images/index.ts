/** skills/images: the runtime images skills run in, built offline from Debian packages. */
export * from './specs.js'
export * from './build.js'
