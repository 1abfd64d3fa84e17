/**
 * skills/fetch: `/aas/bundle/1.0.0`, a bundle by CID from one peer. Request: one
 * length-prefixed DAG-CBOR frame `{cid}`. Response: a frame `{ok: true, size}` or
 * `{ok: false, error}`, then the bytes in frames of at most FRAME_BYTES. The fetcher keeps
 * only bytes that hash to the CID. The node provides the host (`FetchHost`) and its blob
 * store (`BundleSink`, `BundleSource`); which providers to try is the node's choice.
 */
export * from './errors.js'
export * from './options.js'
export * from './types.js'
export * from './client.js'
export * from './server.js'
