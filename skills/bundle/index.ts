/**
 * skills/bundle: deterministic packing of a skill folder into one DAG-CBOR document, its
 * content id (CIDv1, sha2-256), strict decoding of bundles from peers, and extraction.
 */
export * from './errors.js'
export * from './cid.js'
export * from './format.js'
export * from './pack.js'
export * from './extract.js'
