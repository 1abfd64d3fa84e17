/**
 * skills/store: the content-addressed blob store of verified bundles (hashed as written and
 * again as read) and their unpacked copies for the sandbox.
 */
export * from './errors.js'
export * from './blobstore.js'
