import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { decodeCanonical, encodeCanonical, Protocols } from '../../../protocol/index.js'
import { rpcCall } from '../../../node/p2p/rpc.js'
import { defaultStreamLimits } from '../../../node/p2p/stream-limits.js'
import { createRawPeer, type RawPeer } from '../../utils/raw-peer.js'
import { getJson, startCliNode, waitFor, type CliNode } from '../../utils/cli-node.js'

/**
 * An outsider opening streams as fast as it can (issue 9, "Abuse limits"): a raw libp2p peer
 * against a real node process. Past its burst, each stream is answered with a refusal before
 * its request is read; the node counts every one (`aas_stream_refusals_total`), audits the
 * sender flood-safely, and keeps answering: another protocol, another peer, its HTTP API.
 */
function refusals (metrics: string, protocol: string): number {
  const m = new RegExp(`^aas_stream_refusals_total\\{protocol="${protocol.replaceAll('/', '\\/').replaceAll('.', '\\.')}",reason="rate-limited"\\} (\\d+)`, 'm').exec(metrics)
  return m == null ? 0 : Number(m[1])
}

describe('per-peer stream limits against a raw libp2p peer', function () {
  this.timeout(120_000)
  let node: CliNode
  let raw: RawPeer
  let honest: RawPeer

  before(async () => {
    node = await startCliNode()
    raw = await createRawPeer(await generateKeyPair('Ed25519'))
    honest = await createRawPeer(await generateKeyPair('Ed25519'))
    await raw.dial(multiaddr(node.addresses[0]))
    await honest.dial(multiaddr(node.addresses[0]))
  })

  after(async () => {
    await raw?.stop()
    await honest?.stop()
    await node?.stop()
  })

  /**
   * Opens `n` streams of `protocol` as fast as it can, 16 at a time (libp2p resets streams past
   * a protocol's `maxInboundStreams` at once, a separate limit); each answer's first frame, decoded.
   */
  const flood = async (peer: RawPeer, protocol: string, n: number, request: unknown): Promise<any[]> => {
    const one = async (): Promise<any> => decodeCanonical(await rpcCall(peer, peerIdFromString(node.peerId), protocol, encodeCanonical(request), { maxResponseBytes: 64 * 1024, timeoutMs: 30_000 }))
    const out: any[] = []
    while (out.length < n) out.push(...await Promise.all(Array.from({ length: Math.min(16, n - out.length) }, one)))
    return out
  }

  it('refuses submissions past the burst, counts each refusal, and stays responsive', async () => {
    const n = 80
    const answers = await flood(raw, Protocols.taskSubmit, n, { not: 'an envelope' })
    const limited = answers.filter(a => a?.code === 'ERR_RATE_LIMITED')
    const served = answers.filter(a => a?.code !== 'ERR_RATE_LIMITED')
    expect(served.length, 'the burst is served').to.be.at.least(defaultStreamLimits[Protocols.taskSubmit].burst)
    expect(limited.length, 'the rest is refused').to.be.at.least(1)
    expect(served.length + limited.length).to.equal(n)
    for (const a of limited) expect(a).to.deep.equal({ ok: false, code: 'ERR_RATE_LIMITED', message: 'too many requests from this peer: slow down and try again' })

    // every refusal counted, under the protocol
    const metrics = await (await fetch(`${node.api}/metrics`)).text()
    expect(refusals(metrics, Protocols.taskSubmit)).to.equal(limited.length)

    // the flooder's other protocols, another peer and the HTTP API are still answered
    const status = await flood(raw, Protocols.taskStatus, 1, { id: 'no-such-task' })
    expect(status[0]?.code).to.not.equal('ERR_RATE_LIMITED')
    const other = await flood(honest, Protocols.taskSubmit, 1, { not: 'an envelope' })
    expect(other[0]?.code).to.not.equal('ERR_RATE_LIMITED')
    expect((await getJson(`${node.api}/v1/node`)).peerId).to.equal(node.peerId)
  })

  it('ends index-sync streams past the burst, counts them and audits the sender', async () => {
    // a peer of its own: the audit keeps one entry per sender a minute (the first refusal), and
    // the submissions above were refused for what they said before any was over the rate
    const prober = await createRawPeer(await generateKeyPair('Ed25519'))
    try {
      await prober.dial(multiaddr(node.addresses[0]))
      const { burst } = defaultStreamLimits[Protocols.releases]
      /** One sync: true when the node sent its (here empty) index and ended, false when it cut the stream. */
      const sync = async (): Promise<boolean> => {
        const stream = await prober.dialProtocol(peerIdFromString(node.peerId), Protocols.releases, { signal: AbortSignal.timeout(30_000) })
        try {
          await stream.closeWrite()
          for await (const _ of stream.source) { /* entries, if any */ }
          return true
        } catch {
          return false
        }
      }
      const ended: boolean[] = []
      for (let i = 0; i < burst + 10; i++) ended.push(await sync())
      expect(ended.slice(0, burst)).to.deep.equal(Array(burst).fill(true))
      const cut = ended.filter(ok => !ok).length
      expect(cut).to.be.at.least(1)
      const metrics = await (await fetch(`${node.api}/metrics`)).text()
      expect(refusals(metrics, Protocols.releases)).to.equal(cut)

      const entry = await waitFor(async () => (await getJson(`${node.api}/v1/audit?limit=1000`)).entries
        .find((e: any) => e.action === 'message.rejected' && e.subject === prober.peerId.toString()), 'the refusal\'s audit entry')
      expect(entry.details).to.include({ reason: 'rate-limited', channel: Protocols.releases })
    } finally {
      await prober.stop()
    }
  })
})
