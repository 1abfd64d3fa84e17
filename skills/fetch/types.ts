import type { PeerId, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The part of a libp2p host the bundle protocol uses (a libp2p node satisfies it). */
export interface FetchHost {
  dialProtocol (peer: PeerId | Multiaddr[], protocol: string, options: { signal: AbortSignal }): Promise<Stream>
  handle (protocol: string, handler: StreamHandler, options: StreamHandlerOptions): Promise<void>
  unhandle (protocol: string): Promise<void>
}

/**
 * Bytes arriving for one CID: each chunk is hashed as it is written; `commit` keeps them only
 * if they hash to the CID (else throws a `BlobError` `ERR_CID_MISMATCH`); `write` past the
 * limit throws `BlobError` `ERR_BLOB_TOO_LARGE`; `abort` drops them and is safe to repeat.
 */
export interface BundleWriter {
  readonly bytes: number
  write (chunk: Uint8Array): Promise<void>
  commit (): Promise<void>
  abort (): Promise<void>
}

/** Where fetched bundles go (the node's blob store). */
export interface BundleSink {
  writer (cid: string, maxBytes: number): Promise<BundleWriter>
}

/** Where served bundles come from (the node's blob store); undefined when it has no such blob. */
export interface BundleSource {
  openStream (cid: string, chunkBytes: number): Promise<{ size: number, chunks: AsyncIterable<Uint8Array> } | undefined>
}
