import { expect } from 'chai'
import pino from 'pino'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { GossipAction, RejectCode, type HelloBody, type ValidatedMessage } from '../../../../protocol/index.js'
import { MeshKeeper } from '../../../../node/mesh/index.js'

/**
 * The mesh keeper's tables are bounded (issue 9): peers heard of through hellos are kept up to
 * `maxKnownPeers`, the least recently heard forgotten first, and so are its discovery dials; a
 * peer's hellos beyond its rate are refused at admission (IGNORE `rate-limited`), so the router
 * neither handles nor forwards them. Stubs stand in for libp2p and gossip (their Components).
 */
type Handler = (msg: ValidatedMessage<HelloBody>) => void
type Admit = (msg: ValidatedMessage<HelloBody>) => void

function rig (init: { maxKnownPeers?: number, hellosPerS?: number, targetPeers?: number } = {}) {
  let clock = 1_000_000
  let handler: Handler | undefined
  let admit: Admit | undefined
  const dials: string[] = []
  const host = {
    peerId: { toString: () => 'self' },
    getMultiaddrs: () => [],
    getPeers: () => [],
    getConnections: () => [],
    dial: async (targets: any[]) => { dials.push(targets[0].toString()); throw new Error('unreachable') },
    addEventListener: () => {},
    removeEventListener: () => {}
  }
  const gossip = {
    handle: (_spec: unknown, h: Handler, opts: { admit?: Admit } = {}) => { handler = h; admit = opts.admit },
    publish: async () => ({ bytes: new Uint8Array(), recipients: 0 })
  }
  const keeper = new MeshKeeper(
    { host: host as any, gossip: gossip as any, log: pino({ level: 'silent' }), now: () => clock },
    { bootstrap: [], targetPeers: init.targetPeers ?? 0, redialIntervalMs: 3_600_000, helloIntervalMs: 0, dialTimeoutMs: 1000, maxKnownPeers: init.maxKnownPeers, hellosPerS: init.hellosPerS }
  )
  keeper.start()
  const msg = (sender: string, seq = 1): ValidatedMessage<HelloBody> =>
    ({ sender, envelope: { body: { seq, addrs: ['/ip4/127.0.0.1/tcp/1'], agent: 'test' } } as any })
  /** A hello as the router delivers it: admitted first; refused ones never reach the handler. */
  const deliver = (sender: string, seq = 1): unknown => {
    try { admit?.(msg(sender, seq)) } catch (err) { return err }
    handler?.(msg(sender, seq))
    return undefined
  }
  return { keeper, deliver, dials, tick: (ms: number) => { clock += ms }, stop: () => { keeper.stop() } }
}

describe('node/mesh: bounded tables and the hello rate', function () {
  it('remembers at most maxKnownPeers, forgetting the least recently heard', () => {
    const r = rig({ maxKnownPeers: 10 })
    for (let i = 0; i < 25; i++) { r.deliver(`peer-${i}`); r.tick(10) }
    // peer-15 speaks again: it becomes the most recent and outlives peer-16…peer-24
    r.tick(2000)
    r.deliver('peer-15', 2)
    r.tick(10)
    for (let i = 25; i < 34; i++) { r.deliver(`peer-${i}`); r.tick(10) }
    const known = r.keeper.knownPeers().map(p => p.peerId)
    expect(known).to.have.length(10)
    expect(known).to.include('peer-15')
    expect(known).to.not.include('peer-16')
    expect(known.slice(0, 9)).to.deep.equal(Array.from({ length: 9 }, (_, i) => `peer-${33 - i}`))
    r.stop()
  })

  it('keeps the times of discovery dials within the same bound', async () => {
    const r = rig({ maxKnownPeers: 10, targetPeers: 100 })
    const peers = await Promise.all(Array.from({ length: 50 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    for (const p of peers) r.deliver(p)
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(r.dials).to.have.length(50)
    expect((r.keeper as any).lastDial.size).to.equal(10)
    r.stop()
  })

  it('ignores a peer\'s hellos beyond one a second (after a small burst), not another peer\'s', () => {
    const r = rig()
    const results = Array.from({ length: 25 }, (_, i) => r.deliver('flooder', i + 1))
    const refused = results.filter(e => e != null) as any[]
    // a burst of 10 (a node's own hellos at start and on new connections), then one a second
    expect(refused).to.have.length(15)
    for (const err of refused) {
      expect(err.name).to.equal('GossipActionError')
      expect(err.action).to.equal(GossipAction.IGNORE)
      expect(err.reason).to.equal(RejectCode.RATE_LIMITED)
    }
    // refused hellos were not handled: the flooder is known from its first ten only
    expect(r.keeper.knownPeers().find(p => p.peerId === 'flooder')?.received).to.equal(10)
    expect(r.deliver('honest')).to.equal(undefined)
    r.tick(1000)
    expect(r.deliver('flooder', 26)).to.equal(undefined)
    expect(r.deliver('flooder', 27)).to.not.equal(undefined)
    r.stop()
  })
})
