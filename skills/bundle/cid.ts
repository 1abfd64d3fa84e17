import { createHash, type Hash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import * as dagCbor from '@ipld/dag-cbor'

/**
 * Content ids of bundles: CIDv1, codec dag-cbor (a bundle is a DAG-CBOR document), hash
 * sha2-256. The hasher is incremental so a fetch can hash bytes as they arrive.
 */
export function cidOfDigest (digest: Uint8Array): CID {
  return CID.createV1(dagCbor.code, Digest.create(sha256.code, digest))
}

export function bundleCid (bytes: Uint8Array): CID {
  return cidOfDigest(createHash('sha256').update(bytes).digest())
}

/** Parses a CID text and checks it names a bundle (CIDv1, dag-cbor, sha2-256). */
export function parseBundleCid (text: string): CID {
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch {
    throw new TypeError(`"${text}" is not a CID`)
  }
  if (cid.version !== 1 || cid.code !== dagCbor.code || cid.multihash.code !== sha256.code) {
    throw new TypeError(`${text} is not a bundle CID (CIDv1, dag-cbor, sha2-256)`)
  }
  return cid
}

/** Hashes a stream of chunks; `matches(cid)` at the end. */
export class BundleHasher {
  private readonly hash: Hash = createHash('sha256')
  bytes = 0

  update (chunk: Uint8Array): void {
    this.hash.update(chunk)
    this.bytes += chunk.length
  }

  cid (): CID {
    return cidOfDigest(this.hash.digest())
  }
}
