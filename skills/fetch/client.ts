import * as lp from 'it-length-prefixed'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { decodeCanonical, encodeCanonical, Protocols } from '../../protocol/index.js'
import { FetchError, FetchErrorCode, isFetchError } from './errors.js'
import { defaultFetchOptions, FRAME_BYTES, type FetchOptions } from './options.js'
import type { BundleSink, FetchHost } from './types.js'

/**
 * The fetching side of `/aas/bundle/1.0.0`. It trusts nothing: the bytes are hashed as they
 * arrive into a temp file, and the fetch stops on a size past what the release says, a frame
 * too big, a stall or the overall timeout; only bytes that hash to the CID are kept.
 */
export interface BundleFetcherComponents {
  host: Pick<FetchHost, 'dialProtocol'>
  blobs: BundleSink
}

export interface FetchRequest {
  /** Expected size (from the signed release). */
  size: number
  signal?: AbortSignal
  onProgress?: (p: { peer: string, bytes: number, total: number }) => void
}

type Header = { ok?: boolean, size?: number, error?: string } | undefined

export class BundleFetcher {
  readonly options: Readonly<FetchOptions>

  constructor (private readonly c: BundleFetcherComponents, init: Partial<FetchOptions> = {}) {
    this.options = { ...defaultFetchOptions, ...init }
  }

  /**
   * Fetches from one provider into the blob store and returns the byte count; throws a
   * FetchError whose code says why, or the transport's error when the stream itself failed.
   */
  async fetchFrom (peer: PeerId | Multiaddr[], cid: string, req: FetchRequest): Promise<number> {
    const { timeoutMs, stallMs, maxBytes } = this.options
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(req.signal != null ? [req.signal] : [])])
    const peerName = Array.isArray(peer) ? peer[0]?.getPeerId() ?? 'unknown' : peer.toString()
    const stream = await this.c.host.dialProtocol(peer, Protocols.bundle, { signal })
    const abortOnSignal = (): void => { stream.abort(new Error('fetch timed out or was cancelled')) }
    signal.addEventListener('abort', abortOnSignal, { once: true })
    const writer = await this.c.blobs.writer(cid, Math.min(req.size, maxBytes))
    let stall: NodeJS.Timeout | undefined
    let stalled: FetchError | undefined
    const armStall = (): void => {
      clearTimeout(stall)
      stall = setTimeout(() => {
        stalled = new FetchError(`no data for ${stallMs} ms`, FetchErrorCode.STALL)
        stream.abort(stalled)
      }, stallMs)
    }
    try {
      armStall()
      await stream.sink([lp.encode.single(encodeCanonical({ cid }))])
      let header: Header
      for await (const frame of lp.decode(stream.source, { maxDataLength: FRAME_BYTES })) {
        armStall()
        if (header == null) {
          header = decodeCanonical(frame.subarray()) as Header
          if (header?.ok !== true) throw new FetchError(`provider ${peerName} does not have it (${String(header?.error ?? 'bad header')})`, FetchErrorCode.NOT_FOUND)
          if (header.size !== req.size) throw new FetchError(`provider ${peerName} offers ${String(header.size)} bytes; the release says ${req.size}`, FetchErrorCode.WRONG_SIZE)
          continue
        }
        await writer.write(frame.subarray())
        req.onProgress?.({ peer: peerName, bytes: writer.bytes, total: req.size })
        if (writer.bytes === req.size) break
      }
      if (header == null) throw new FetchError(`provider ${peerName} closed the stream without answering`, FetchErrorCode.NO_ANSWER)
      if (writer.bytes !== req.size) throw new FetchError(`provider ${peerName} sent ${writer.bytes} of ${req.size} bytes (truncated)`, FetchErrorCode.TRUNCATED)
      await writer.commit()
      await stream.close().catch(() => {})
      return writer.bytes
    } catch (err: any) {
      stream.abort(err)
      throw failure(err, { stalled, signal, cancelled: req.signal?.aborted === true, peerName, timeoutMs })
    } finally {
      clearTimeout(stall)
      signal.removeEventListener('abort', abortOnSignal)
      await writer.abort()
    }
  }
}

/** The blob store's refusals, by code, as the fetch's own. */
const BLOB_CODES: Record<string, FetchErrorCode> = {
  ERR_CID_MISMATCH: FetchErrorCode.HASH_MISMATCH,
  ERR_BLOB_TOO_LARGE: FetchErrorCode.OVERSIZE
}

/** it-length-prefixed's errors for a frame, or a frame's length prefix, past the limit. */
const OVERSIZE_FRAME = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError'])

/** Names the failure of one provider: a FetchError with a code wherever the cause is known. */
function failure (err: any, at: { stalled?: FetchError, signal: AbortSignal, cancelled: boolean, peerName: string, timeoutMs: number }): unknown {
  if (isFetchError(err)) return err
  if (err?.name === 'BlobError') {
    const code = BLOB_CODES[String(err.code)]
    return code == null ? err : new FetchError(err.message, code, { cause: err })
  }
  if (at.stalled != null) return at.stalled
  if (at.signal.aborted) {
    return at.cancelled
      ? new FetchError(`provider ${at.peerName}: cancelled`, FetchErrorCode.CANCELLED, { cause: err })
      : new FetchError(`provider ${at.peerName}: timed out after ${at.timeoutMs} ms`, FetchErrorCode.TIMEOUT, { cause: err })
  }
  if (OVERSIZE_FRAME.has(String(err?.name))) return new FetchError(err.message, FetchErrorCode.OVERSIZE, { cause: err })
  return err
}
