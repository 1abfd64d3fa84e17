import * as lp from 'it-length-prefixed'
import type { Stream } from '@libp2p/interface'
import { decodeCanonical, encodeCanonical, Protocols } from '../../protocol/index.js'
import { defaultBundleServerOptions, FRAME_BYTES, HEADER_BYTES, type BundleServerOptions } from './options.js'
import type { BundleSource, FetchHost } from './types.js'

/**
 * The serving side of `/aas/bundle/1.0.0`: answers a `{cid}` request with `{ok: true, size}`
 * and the blob's frames, read from disk while they are sent (and hashed on the way: the
 * fetcher verifies them too), or with `{ok: false, error: 'not-found' | 'bad-request'}`; a
 * stream `admit` refuses gets `{ok: false, error: WHY}` (`rate-limited`, …), its request unread.
 */
export interface BundleServerComponents {
  host: Pick<FetchHost, 'handle' | 'unhandle'>
  blobs: BundleSource
}

export class BundleServer {
  private readonly options: Readonly<BundleServerOptions>
  private started = false

  constructor (private readonly c: BundleServerComponents, init: Partial<BundleServerOptions> = {}) {
    this.options = { ...defaultBundleServerOptions, ...init }
  }

  async start (): Promise<void> {
    await this.c.host.handle(Protocols.bundle, ({ stream, connection }) => {
      const admitted = this.options.admit?.(connection.remotePeer.toString()) ?? true
      if (admitted !== true) {
        void refuse(stream, admitted)
        return
      }
      void this.serve(stream).catch((err) => { stream.abort(err) })
    }, { maxInboundStreams: this.options.maxInboundStreams })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.c.host.unhandle(Protocols.bundle)
  }

  private async serve (stream: Stream): Promise<void> {
    const frames = lp.decode(stream.source, { maxDataLength: HEADER_BYTES })[Symbol.asyncIterator]()
    const first = await withTimeout(frames.next(), this.options.requestTimeoutMs)
    if (first.done === true) { await stream.close(); return }
    const req = decodeCanonical(first.value.subarray()) as { cid?: unknown }
    let blob: Awaited<ReturnType<BundleSource['openStream']>>
    let error = 'not-found'
    try {
      if (typeof req?.cid !== 'string') throw new Error('bad request')
      blob = await this.c.blobs.openStream(req.cid, FRAME_BYTES)
    } catch (err: any) {
      if (err?.name !== 'BlobError') error = 'bad-request'
    }
    const { onServed } = this.options
    await stream.sink((async function * () {
      if (blob == null) { yield lp.encode.single(encodeCanonical({ ok: false, error })); return }
      yield lp.encode.single(encodeCanonical({ ok: true, size: blob.size }))
      for await (const chunk of blob.chunks) yield lp.encode.single(chunk)
      onServed?.(blob.size)
    })())
  }
}

/** One refusal frame, then the stream ends; a peer that does not read it within a second is cut off. */
async function refuse (stream: Stream, error: string): Promise<void> {
  const timer = setTimeout(() => { stream.abort(new Error('refused')) }, 1000)
  try {
    await stream.sink([lp.encode.single(encodeCanonical({ ok: false, error }))])
    // the request stays unread: drop it rather than hold the stream open for the peer
    await stream.closeRead()
  } catch (err) {
    stream.abort(err as Error)
  } finally {
    clearTimeout(timer)
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
