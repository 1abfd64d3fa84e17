import { performance } from 'node:perf_hooks'
import type { AasNode } from '../../node/index.js'

/**
 * A baseline for anything that crosses the network: one direct libp2p stream round trip
 * between two connected nodes, over the same TCP + noise + yamux connection gossip uses.
 * A tiny echo protocol is registered for the benchmark only (`libp2p.handle`) and removed
 * after; each round opens a stream (protocol negotiation included), writes a few bytes, reads
 * them back and closes it: the least any request/response between two nodes can cost here.
 */
export const ECHO_PROTOCOL = '/aas-bench/echo/1.0.0'
const PAYLOAD = new Uint8Array(32).fill(0x61)
const ROUND_TIMEOUT_MS = 5_000

export interface EchoPair {
  /** One round trip; its duration in ms. */
  roundTrip: () => Promise<number>
  close: () => Promise<void>
}

type Host = AasNode['host']

export async function echoPair (client: Host, server: Host): Promise<EchoPair> {
  await server.handle(ECHO_PROTOCOL, ({ stream }) => {
    // echo until the client closes its side, then close ours
    void stream.sink(stream.source).catch((err: Error) => { stream.abort(err) })
  }, { maxInboundStreams: 4 })

  const roundTrip = async (): Promise<number> => {
    const signal = AbortSignal.timeout(ROUND_TIMEOUT_MS)
    const t0 = performance.now()
    const stream = await client.dialProtocol(server.peerId, ECHO_PROTOCOL, { signal })
    try {
      await stream.sink([PAYLOAD])
      let got = 0
      for await (const chunk of stream.source) {
        got += chunk.byteLength
        if (got >= PAYLOAD.length) break
      }
      const dt = performance.now() - t0
      if (got < PAYLOAD.length) throw new Error(`echo returned ${got} of ${PAYLOAD.length} bytes`)
      return dt
    } finally {
      await stream.close({ signal }).catch((err: Error) => { stream.abort(err) })
    }
  }

  return {
    roundTrip,
    close: async () => { await server.unhandle(ECHO_PROTOCOL) }
  }
}
