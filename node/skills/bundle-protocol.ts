import * as lp from 'it-length-prefixed'
import type { PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { decodeCanonical, encodeCanonical, Protocols } from '../../protocol/index.js'
import { AasError } from '../../protocol/errors.js'
import { BlobError, type BlobStore } from '../../skills/store/blobstore.js'
import type { Host } from '../p2p/host.js'

/**
 * `/aas/bundle/1.0.0`: fetch a bundle by CID from a peer. Request: one length-prefixed
 * DAG-CBOR frame `{cid}`. Response: a frame `{ok: true, size}` or `{ok: false, error}`,
 * then the bytes in frames of at most CHUNK bytes. The fetcher trusts nothing: it hashes as
 * the bytes arrive into a temp file and stops on a size past what the release says, a frame
 * too big, a stall or an overall timeout; only bytes that hash to the CID are kept.
 */
export const CHUNK = 64 * 1024
const MAX_HEADER = 1024

export class FetchError extends AasError {
  constructor (message: string, code: 'ERR_FETCH_NO_PROVIDER' | 'ERR_FETCH_FAILED' | 'ERR_NOT_FOUND' | 'ERR_UNTRUSTED', readonly attempts: ProviderAttempt[] = []) {
    super(message, code)
    this.name = 'FetchError'
  }
}

export interface ProviderAttempt { peer: string, ok: boolean, reason?: string, bytes: number }

export function serveBundles (host: Host, blobs: BlobStore, onServed?: (bytes: number) => void): Promise<void> {
  return host.handle(Protocols.bundle, ({ stream }) => {
    void serve(stream, blobs, onServed).catch((err) => { stream.abort(err) })
  }, { maxInboundStreams: 32 })
}

async function serve (stream: Stream, blobs: BlobStore, onServed?: (bytes: number) => void): Promise<void> {
  const frames = lp.decode(stream.source, { maxDataLength: MAX_HEADER })[Symbol.asyncIterator]()
  const first = await withTimeout(frames.next(), 10_000)
  if (first.done === true) { await stream.close(); return }
  const req = decodeCanonical(first.value.subarray()) as { cid?: unknown }
  let blob: Awaited<ReturnType<BlobStore['openStream']>>
  let error = 'not-found'
  try {
    if (typeof req?.cid !== 'string') throw new Error('bad request')
    blob = await blobs.openStream(req.cid, CHUNK)
  } catch (err) {
    if (!(err instanceof BlobError)) error = 'bad-request'
  }
  // the file is read while it is sent, and hashed on the way (the fetcher verifies it too)
  await stream.sink((async function * () {
    if (blob == null) { yield lp.encode.single(encodeCanonical({ ok: false, error })); return }
    yield lp.encode.single(encodeCanonical({ ok: true, size: blob.size }))
    for await (const chunk of blob.chunks) yield lp.encode.single(chunk)
    onServed?.(blob.size)
  })())
}

export interface FetchOptions {
  /** Expected size (from the signed release). */
  size: number
  maxBytes: number
  timeoutMs: number
  /** A provider that sends nothing for this long is dropped. */
  stallMs: number
  signal?: AbortSignal
  onProgress?: (p: { peer: string, bytes: number, total: number }) => void
}

/** Fetches from one provider into the blob store; throws with the reason on any failure. */
export async function fetchFrom (host: Host, peer: PeerId | Multiaddr[], cid: string, blobs: BlobStore, o: FetchOptions): Promise<number> {
  const signal = AbortSignal.any([AbortSignal.timeout(o.timeoutMs), ...(o.signal != null ? [o.signal] : [])])
  const peerName = Array.isArray(peer) ? peer[0]?.getPeerId() ?? 'unknown' : peer.toString()
  const stream = await host.dialProtocol(peer, Protocols.bundle, { signal })
  const abortOnSignal = (): void => { stream.abort(new Error('fetch timed out or was cancelled')) }
  signal.addEventListener('abort', abortOnSignal, { once: true })
  const writer = await blobs.writer(cid, Math.min(o.size, o.maxBytes))
  let stall: NodeJS.Timeout | undefined
  const armStall = (): void => {
    clearTimeout(stall)
    stall = setTimeout(() => { stream.abort(new Error(`no data for ${o.stallMs} ms`)) }, o.stallMs)
  }
  try {
    armStall()
    await stream.sink([lp.encode.single(encodeCanonical({ cid }))])
    type Header = { ok?: boolean, size?: number, error?: string } | undefined
    let header: Header
    for await (const frame of lp.decode(stream.source, { maxDataLength: CHUNK })) {
      armStall()
      if (header == null) {
        header = decodeCanonical(frame.subarray()) as Header
        const h = header as { ok?: boolean, size?: number, error?: string } | undefined
        if (h?.ok !== true) throw new FetchError(`provider ${peerName} does not have it (${String(h?.error ?? 'bad header')})`, 'ERR_NOT_FOUND')
        if (h.size !== o.size) throw new FetchError(`provider ${peerName} offers ${String(h.size)} bytes; the release says ${o.size}`, 'ERR_FETCH_FAILED')
        continue
      }
      await writer.write(frame.subarray())
      o.onProgress?.({ peer: peerName, bytes: writer.bytes, total: o.size })
      if (writer.bytes === o.size) break
    }
    if (header == null) throw new FetchError(`provider ${peerName} closed the stream without answering`, 'ERR_FETCH_FAILED')
    if (writer.bytes !== o.size) throw new FetchError(`provider ${peerName} sent ${writer.bytes} of ${o.size} bytes (truncated)`, 'ERR_FETCH_FAILED')
    await writer.commit()
    await stream.close().catch(() => {})
    return writer.bytes
  } catch (err: any) {
    stream.abort(err)
    if (signal.aborted && !(err instanceof FetchError) && !(err instanceof BlobError)) {
      throw new FetchError(`provider ${peerName}: ${o.signal?.aborted === true ? 'cancelled' : `timed out after ${o.timeoutMs} ms`}`, 'ERR_FETCH_FAILED')
    }
    throw err
  } finally {
    clearTimeout(stall)
    signal.removeEventListener('abort', abortOnSignal)
    await writer.abort()
  }
}

async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { t = setTimeout(() => { reject(new Error('request timed out')) }, ms) })])
  } finally {
    clearTimeout(t)
  }
}
