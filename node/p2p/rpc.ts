import * as lp from 'it-length-prefixed'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { encodeCanonical } from '../../protocol/index.js'
import { streamLimiterOf, type StreamLimiter } from './stream-limits.js'

/**
 * One request, one response, over a fresh libp2p stream: both are single length-prefixed
 * frames with a size cap, so a peer can neither flood the reader nor hold it open (every call
 * has a timeout). The connection is authenticated by noise, so `remotePeer` is who answers.
 */
export interface RpcOptions {
  signal?: AbortSignal
  timeoutMs?: number
  maxResponseBytes: number
}

export async function rpcCall (host: Libp2p, peer: PeerId | Multiaddr[], protocol: string, request: Uint8Array, o: RpcOptions): Promise<Uint8Array> {
  const signal = AbortSignal.any([AbortSignal.timeout(o.timeoutMs ?? 10_000), ...(o.signal != null ? [o.signal] : [])])
  const stream = await host.dialProtocol(peer, protocol, { signal })
  const onAbort = (): void => { stream.abort(new Error(`${protocol}: timed out or cancelled`)) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    await stream.sink([lp.encode.single(request)])
    for await (const frame of lp.decode(stream.source, { maxDataLength: o.maxResponseBytes })) {
      await stream.close().catch(() => {})
      return frame.subarray()
    }
    throw new Error(`${protocol}: the peer closed the stream without answering`)
  } catch (err) {
    stream.abort(err as Error)
    throw err
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

export type RpcHandler = (request: Uint8Array, from: PeerId) => Promise<Uint8Array>

export interface RpcServeOptions {
  /** Streams one connection may hold open at once. */
  maxInboundStreams?: number
  timeoutMs?: number
  /** Streams a second per peer [the host's limiter (stream-limits.ts), if the node set one]. */
  limiter?: Pick<StreamLimiter, 'admit'>
}

/** The answer to a stream over its peer's rate: the `{ok: false, code, message}` every rpc protocol answers a refusal with. */
export const RATE_LIMITED_ANSWER = encodeCanonical({ ok: false, code: 'ERR_RATE_LIMITED', message: 'too many requests from this peer: slow down and try again' })

/**
 * Serves `protocol`: reads one request frame (capped, with a timeout), answers one frame. A
 * stream over its peer's rate is answered RATE_LIMITED_ANSWER and closed, its request unread.
 */
export async function rpcServe (host: Libp2p, protocol: string, maxRequestBytes: number, handler: RpcHandler, opts: RpcServeOptions = {}): Promise<void> {
  const limiter = opts.limiter ?? streamLimiterOf(host)
  await host.handle(protocol, ({ stream, connection }) => {
    if (limiter != null && !limiter.admit(protocol, connection.remotePeer.toString())) {
      void refuseStream(stream, RATE_LIMITED_ANSWER)
      return
    }
    void answer(stream, connection.remotePeer, maxRequestBytes, handler, opts.timeoutMs ?? 30_000).catch((err) => { stream.abort(err) })
  }, { maxInboundStreams: opts.maxInboundStreams ?? 64 })
}

/** Answers one frame and closes, within a second; a peer that does not read it is cut off. */
export async function refuseStream (stream: Stream, frame: Uint8Array): Promise<void> {
  const timer = setTimeout(() => { stream.abort(new Error('refused')) }, 1000)
  try {
    await stream.sink([lp.encode.single(frame)])
    // the request stays unread: drop it rather than hold the stream open for the peer
    await stream.closeRead()
  } catch (err) {
    stream.abort(err as Error)
  } finally {
    clearTimeout(timer)
  }
}

async function answer (stream: Stream, from: PeerId, maxRequestBytes: number, handler: RpcHandler, timeoutMs: number): Promise<void> {
  const timer = setTimeout(() => { stream.abort(new Error('request timed out')) }, timeoutMs)
  try {
    const frames = lp.decode(stream.source, { maxDataLength: maxRequestBytes })[Symbol.asyncIterator]()
    const first = await frames.next()
    if (first.done === true) { await stream.close(); return }
    const response = await handler(first.value.subarray(), from)
    await stream.sink([lp.encode.single(response)])
  } finally {
    clearTimeout(timer)
  }
}
