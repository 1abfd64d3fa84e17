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

    // audited once for the window (the rest are summed when it ends), as other refusals are
    const entry = await waitFor(async () => (await getJson(`${node.api}/v1/audit?limit=1000`)).entries
      .find((e: any) => e.action === 'message.rejected' && e.subject === raw.peerId.toString() && e.details?.reason === 'rate-limited'), 'the refusal\'s audit entry')
    expect(entry.details.channel).to.equal(Protocols.taskSubmit)
  })

  it('refuses bundle requests past the burst the same way', async () => {
    const n = defaultStreamLimits[Protocols.bundle].burst + 20
    const answers = await flood(raw, Protocols.bundle, n, { cid: 'bafynotthere' })
    const limited = answers.filter(a => a?.error === 'rate-limited')
    expect(limited.length).to.be.at.least(1)
    expect(answers.filter(a => a?.error === 'not-found').length).to.be.at.least(defaultStreamLimits[Protocols.bundle].burst)
    const metrics = await (await fetch(`${node.api}/metrics`)).text()
    expect(refusals(metrics, Protocols.bundle)).to.equal(limited.length)
  })
})
