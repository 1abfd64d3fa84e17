import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { randomBytes } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { encodeCanonical, sealEnvelope, decodeCanonical, Topics } from '../../../protocol/index.js'
import { createRawPeer, type RawPeer } from '../../utils/raw-peer.js'
import { startCliNode, getJson, waitFor, testTeam, type CliNode } from '../../utils/cli-node.js'

/**
 * A raw libp2p peer, not an AAS node, publishes every kind of bad message on the AAS hello
 * topic to a real node process. Each must be rejected and counted under its reason, none
 * may reach the node's hello handler, the sender's gossip score must drop, and the node must
 * keep running and keep accepting good messages from an honest node.
 */
function counter (metrics: string, result: string, reason: string): number {
  const re = new RegExp(`^aas_gossip_messages_total\\{topic="${Topics.hello}",result="${result}",reason="${reason}"\\} (\\d+)`, 'm')
  const m = re.exec(metrics)
  return m == null ? 0 : Number(m[1])
}

describe('adversarial gossip from a raw libp2p peer', function () {
  this.timeout(90_000)
  let target: CliNode
  let honest: CliNode
  let raw: RawPeer
  let rawKey: PrivateKey
  const topic = Topics.hello

  const metrics = async (): Promise<string> => await (await fetch(`${target.api}/metrics`)).text()
  const rawEntry = async (): Promise<any> => (await getJson(`${target.api}/v1/mesh`)).peers.find((p: any) => p.peerId === raw.peerId.toString())
  const publish = async (data: Uint8Array): Promise<void> => { await raw.services.pubsub.publish(topic, data) }
  // the raw peer is a member gone bad: it holds a valid certificate of the nodes' team
  let cert: Uint8Array
  const goodHello = async (seq: number, opts: { now?: number } = {}): Promise<Uint8Array> =>
    await sealEnvelope(rawKey, 'hello', { seq, addrs: [], agent: 'raw' }, { ...opts, cert })

  before(async () => {
    target = await startCliNode()
    honest = await startCliNode({ bootstrap: [target.addresses[0]] })
    rawKey = await generateKeyPair('Ed25519')
    cert = await (await testTeam()).certificate(rawKey.publicKey.raw)
    raw = await createRawPeer(rawKey)
    raw.services.pubsub.subscribe(topic)
    await raw.dial(multiaddr(target.addresses[0]))
    await waitFor(() => raw.services.pubsub.getSubscribers(topic).some(p => p.toString() === target.peerId), 'the node to subscribe to hello', 10_000)
  })

  after(async () => {
    await raw?.stop()
    await honest?.stop()
    await target?.stop()
  })

  it('accepts a good message from the raw peer once', async () => {
    await publish(await goodHello(1))
    const entry = await waitFor(rawEntry, 'the first good hello to be handled')
    expect(entry.received).to.equal(1)
    expect(entry.seq).to.equal(1)
  })

  it('rejects and counts malformed, oversize, forged, replayed, stale, future, schema-breaking and misattributed messages', async () => {
    const replayed = await goodHello(2)
    await publish(replayed)
    await waitFor(async () => (await rawEntry())?.received === 2, 'the second good hello')

    const forged = decodeCanonical(await goodHello(100)) as Record<string, any>
    forged.sig = new Uint8Array(forged.sig); forged.sig[0] ^= 0xff
    const otherKey = await generateKeyPair('Ed25519')
    const cases: Array<[string, Uint8Array]> = [
      ['malformed', randomBytes(200)],
      ['oversize', new Uint8Array(64 * 1024).fill(7)],
      ['signature', encodeCanonical(forged)],
      ['replay', replayed],
      ['stale', await goodHello(101, { now: Date.now() - 60 * 60_000 })],
      ['future', await goodHello(102, { now: Date.now() + 60 * 60_000 })],
      ['schema', await sealEnvelope(rawKey, 'hello', { seq: -5, addrs: 'not-a-list', agent: 'raw' }, { cert })],
      ['sender-mismatch', await sealEnvelope(otherKey, 'hello', { seq: 103, addrs: [], agent: 'raw' }, { cert: await (await testTeam()).certificate(otherKey.publicKey.raw) })]
    ]
    for (const [, data] of cases) await publish(data)

    const text = await waitFor(async () => {
      const t = await metrics()
      return cases.every(([reason]) => counter(t, 'reject', reason) >= 1) ? t : undefined
    }, 'every bad message to be counted', 15_000)
    for (const [reason] of cases) expect(counter(text, 'reject', reason), reason).to.equal(1)

    // none reached the application: the raw peer's hello count is still the two good ones,
    // and the key that signed the misattributed message was never heard of
    const mesh = await getJson(`${target.api}/v1/mesh`)
    expect(mesh.peers.find((p: any) => p.peerId === raw.peerId.toString()).received).to.equal(2)
    expect(mesh.peers.map((p: any) => p.peerId)).to.not.include(otherKey.publicKey.toString())

    // peer scoring punishes the sender
    const score = async (): Promise<number> => (await getJson(`${target.api}/v1/peers`)).peers.find((p: any) => p.peerId === raw.peerId.toString()).gossipScore
    await waitFor(async () => (await score()) < 0, 'the sender to be scored down', 5000)
    expect(await score()).to.be.lessThan(0)
  })

  it('keeps running and keeps accepting good messages from honest nodes', async () => {
    expect((await getJson(`${target.api}/healthz`)).status).to.equal('ok')
    const { seq } = await getJson(`${honest.api}/v1/hello`, { method: 'POST' })
    await waitFor(async () => {
      const entry = (await getJson(`${target.api}/v1/mesh`)).peers.find((p: any) => p.peerId === honest.peerId)
      return entry != null && entry.seq >= seq
    }, 'the honest hello to arrive', 10_000)
    expect(target.process.exitCode).to.equal(null)
  })
})
