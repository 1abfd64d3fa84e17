import type { PeerId, Stream, StreamHandler } from '@libp2p/interface'
import type { FetchHost } from '../../../../skills/fetch/index.js'

/**
 * An in-memory FetchHost for unit tests of the bundle protocol: `dialProtocol` hands one end
 * of a stream pair to the handler registered for the protocol and returns the other end.
 * Either end's `abort` ends both directions with the error, as a reset stream does.
 */
class Channel implements AsyncIterable<Uint8Array> {
  private readonly queue: Uint8Array[] = []
  private done = false
  private error: Error | undefined
  private wake: (() => void) | undefined

  push (chunk: Uint8Array): void {
    if (this.done) return
    this.queue.push(chunk)
    this.notify()
  }

  end (err?: Error): void {
    if (this.done) return
    this.done = true
    this.error = err
    this.notify()
  }

  private notify (): void {
    this.wake?.()
    this.wake = undefined
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    while (true) {
      if (this.error != null) throw this.error
      const next = this.queue.shift()
      if (next != null) yield next
      else if (this.done) return
      else await new Promise<void>(resolve => { this.wake = resolve })
    }
  }
}

/** A stub stream end; `closed` aborts when either end aborts. */
export interface LoopbackStream extends Stream { closed: AbortSignal }

function streamPair (): [LoopbackStream, LoopbackStream] {
  const ab = new Channel()
  const ba = new Channel()
  const closed = new AbortController()
  const end = (read: Channel, write: Channel): LoopbackStream => ({
    source: read,
    closed: closed.signal,
    status: 'open',
    async sink (source: AsyncIterable<Uint8Array | { subarray: () => Uint8Array }>) {
      for await (const chunk of source) {
        if (closed.signal.aborted) return
        write.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
      }
      write.end()
    },
    async close () { write.end() },
    abort (err: Error) {
      read.end(err)
      write.end(err)
      closed.abort(err)
    }
  }) as unknown as LoopbackStream
  return [end(ba, ab), end(ab, ba)]
}

export class LoopbackHost implements FetchHost {
  readonly handlers = new Map<string, StreamHandler>()

  async handle (protocol: string, handler: StreamHandler): Promise<void> {
    this.handlers.set(protocol, handler)
  }

  async unhandle (protocol: string): Promise<void> {
    this.handlers.delete(protocol)
  }

  async dialProtocol (_peer: PeerId, protocol: string): Promise<Stream> {
    const handler = this.handlers.get(protocol)
    if (handler == null) throw Object.assign(new Error(`no handler for ${protocol}`), { name: 'UnsupportedProtocolError' })
    const [mine, theirs] = streamPair()
    handler({ stream: theirs, connection: {} as any })
    return mine
  }
}
