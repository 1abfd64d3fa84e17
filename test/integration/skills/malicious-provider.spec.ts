import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import * as lp from 'it-length-prefixed'
import { CID } from 'multiformats/cid'
import type { PrivateKey, Stream } from '@libp2p/interface'
import {
  decodeCanonical, encodeCanonical, manifestDigest, Protocols, publicKeyText, sealEnvelope, signRelease, Topics,
  type Release, type SkillReleaseBody
} from '../../../protocol/index.js'
import { packSkill, rmTree, type PackedBundle } from '../../../skills/bundle/index.js'
import { createRawPeer, type RawPeer } from '../../utils/raw-peer.js'
import { startCliNode, getJson, waitFor, tempDir, testTeam, type CliNode } from '../../utils/cli-node.js'

/**
 * A hostile provider. A raw libp2p peer M (not an AAS node) announces real, author-signed
 * releases to an honest node H, then serves their bundles over /aas/bundle/1.0.0 with one
 * misbehaviour per case: wrong bytes, a truncated stream, endless streams, a slow drip,
 * oversize headers and frames. H must give up on M for the right reason within its fetch
 * timeouts, get the bytes from a second, honest provider G, and keep only verified blobs
 * (nothing left in blobs/.tmp). M's bad gossip — a forged release signature, an untrusted
 * author, a version rollback, a replayed envelope, a manifest other than the signed one —
 * is refused, counted, and never indexed.
 */
type Behaviour =
  | 'wrong-bytes' | 'truncated' | 'endless-data' | 'endless-empty' | 'drip'
  | 'oversize-header' | 'oversize-frame' | 'oversize-bytes' | 'not-found'

interface Offer { bundle: PackedBundle, behaviour: Behaviour }

const CHUNK = 64 * 1024

function frames (bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += CHUNK) out.push(lp.encode.single(bytes.subarray(at, at + CHUNK)).subarray())
  return out
}

const header = (size: number): Uint8Array => lp.encode.single(encodeCanonical({ ok: true, size })).subarray()

function gossipCounter (metrics: string, result: string, reason: string): number {
  const re = new RegExp(`^aas_gossip_messages_total\\{topic="${Topics.skills}",result="${result}",reason="${reason}"\\} (\\d+)`, 'm')
  const m = re.exec(metrics)
  return m == null ? 0 : Number(m[1])
}

function fetchCounter (metrics: string, result: string, reason: string): number {
  const re = new RegExp(`^aas_skill_fetch_attempts_total\\{result="${result}",reason="${reason}"\\} (\\d+)`, 'm')
  const m = re.exec(metrics)
  return m == null ? 0 : Number(m[1])
}

describe('skill fetch from a malicious provider, and bad release gossip', function () {
  this.timeout(120_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let h: CliNode
  let g: CliNode
  let mCert: Uint8Array
  let m: RawPeer
  let mKey: PrivateKey
  let author: PrivateKey
  let authorText: string
  let stopped = false
  const offers = new Map<string, Offer>()
  const goodBlobs = new Set<string>()
  let skillNo = 0

  const metrics = async (): Promise<string> => await (await fetch(`${h.api}/metrics`)).text()

  /** A fresh skill (about 100 KiB, so bundles span two frames) packed into a bundle. */
  async function makeSkill (name: string, version = '1.0.0', extra: Record<string, unknown> = {}): Promise<PackedBundle> {
    const dir = join(tmp.path, 'skills', `${name}-${version}-${++skillNo}`)
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'skill.json'), JSON.stringify({ name, version, description: `test skill ${name}`, runtime: 'sh', entrypoint: 'main.sh', tags: ['evil-test'], ...extra }))
    await writeFile(join(dir, 'main.sh'), '#!/bin/sh\ncat\n', { mode: 0o755 })
    await writeFile(join(dir, 'data.bin'), randomBytes(100_000))
    return await packSkill(dir)
  }

  async function releaseOf (bundle: PackedBundle, key: PrivateKey = author): Promise<SkillReleaseBody> {
    const release = await signRelease(key, {
      name: bundle.manifest.name,
      version: bundle.manifest.version,
      cid: bundle.cid.toString(),
      size: bundle.size,
      publishedAt: Date.now(),
      manifestDigest: manifestDigest(bundle.manifest)
    })
    return { release, manifest: bundle.manifest as unknown as Record<string, unknown> }
  }

  /** M gossips a skill-release envelope it signed; returns the envelope bytes. */
  async function announce (body: SkillReleaseBody): Promise<Uint8Array> {
    const bytes = await sealEnvelope(mKey, 'skill-release', body, { cert: mCert })
    await m.services.pubsub.publish(Topics.skills, bytes)
    return bytes
  }

  const show = async (node: CliNode, ref: string): Promise<any> => {
    const res = await fetch(`${node.api}/v1/skills/${encodeURIComponent(ref)}`)
    return res.status === 404 ? undefined : await res.json()
  }

  async function fetchOn (node: CliNode, ref: string): Promise<any> {
    const res = await fetch(`${node.api}/v1/skills/fetch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ref }), signal: AbortSignal.timeout(60_000) })
    const lines = (await res.text()).trim().split('\n').map(l => JSON.parse(l))
    return lines[lines.length - 1]
  }

  /** M's side of /aas/bundle/1.0.0: reads the request, answers per the offer's misbehaviour. */
  async function serveEvil (stream: Stream): Promise<void> {
    const it = lp.decode(stream.source, { maxDataLength: 1024 })[Symbol.asyncIterator]()
    const first = await it.next()
    if (first.done === true) return
    const { cid } = decodeCanonical(first.value.subarray()) as { cid: string }
    const offer = offers.get(cid)
    const bytes = offer?.bundle.bytes ?? new Uint8Array(0)
    const size = bytes.length
    const until = Date.now() + 20_000 // an endless stream still ends when the test is long over
    const alive = (): boolean => !stopped && Date.now() < until && stream.status === 'open'
    async function * reply (): AsyncGenerator<Uint8Array> {
      switch (offer?.behaviour) {
        case undefined:
        case 'not-found':
          yield lp.encode.single(encodeCanonical({ ok: false, error: 'not-found' })).subarray()
          return
        case 'wrong-bytes': {
          const bad = Uint8Array.from(bytes)
          bad[Math.floor(size / 2)] ^= 0xff
          yield header(size)
          yield * frames(bad)
          return
        }
        case 'truncated':
          yield header(size)
          yield * frames(bytes.subarray(0, size - 10))
          return
        case 'endless-data':
          yield header(size)
          while (alive()) { yield lp.encode.single(randomBytes(1024)).subarray(); await sleep(1) }
          return
        case 'endless-empty':
          // frames that carry nothing keep the stall timer quiet: only the overall timeout ends it
          yield header(size)
          while (alive()) { yield lp.encode.single(new Uint8Array(0)).subarray(); await sleep(50) }
          return
        case 'drip':
          yield header(size)
          for (let i = 0; i < size && alive(); i++) { yield lp.encode.single(bytes.subarray(i, i + 1)).subarray(); await sleep(2000) }
          return
        case 'oversize-header':
          yield header(size + 1000)
          yield * frames(bytes)
          return
        case 'oversize-frame':
          yield header(size)
          yield lp.encode.single(randomBytes(CHUNK + 6 * 1024)).subarray()
          return
        case 'oversize-bytes':
          yield header(size)
          yield lp.encode.single(Uint8Array.from([...bytes.subarray(0, 1000), ...bytes.subarray(0, 1000)])).subarray()
          yield * frames(bytes)
          return
      }
    }
    await stream.sink(reply())
  }

  /** H's blob store holds exactly the verified blobs so far, each hashing to its CID, and no temp file. */
  async function expectOnlyGoodBlobs (): Promise<void> {
    const blobs = join(h.dataDir, 'blobs')
    const names = (await readdir(blobs)).filter(n => n !== '.tmp').sort()
    expect(names).to.deep.equal([...goodBlobs].sort())
    for (const name of names) {
      const digest = createHash('sha256').update(await readFile(join(blobs, name))).digest()
      expect(Buffer.from(CID.parse(name).multihash.digest).equals(digest), name).to.equal(true)
    }
    expect(await readdir(join(blobs, '.tmp'))).to.deep.equal([])
  }

  before(async () => {
    tmp = await tempDir('aas-evil-')
    author = await generateKeyPair('Ed25519')
    authorText = publicKeyText(author.publicKey.raw)
    const config = join(tmp.path, 'h.json')
    await writeFile(config, JSON.stringify({ skills: { fetchTimeoutS: 3, fetchStallS: 1 } }))
    h = await startCliNode({ dataDir: join(tmp.path, 'h'), args: ['--config', config, '--trust-author', authorText] })

    mKey = await generateKeyPair('Ed25519')
    // M is a member gone bad: the team admitted it, so H asks it for bundles like any member
    mCert = await (await testTeam()).certificate(mKey.publicKey.raw)
    m = await createRawPeer(mKey)
    await m.handle(Protocols.bundle, ({ stream }) => {
      void serveEvil(stream).catch((err) => { stream.abort(err) })
    })
    m.services.pubsub.subscribe(Topics.skills)
    await m.dial(multiaddr(h.addresses[0]))
    await waitFor(() => m.services.pubsub.getSubscribers(Topics.skills).some(p => p.toString() === h.peerId), 'H to subscribe to the skills topic', 10_000)
    // and it says hello, as a member does: H knows it from then on
    m.services.pubsub.subscribe(Topics.hello)
    await waitFor(() => m.services.pubsub.getSubscribers(Topics.hello).some(p => p.toString() === h.peerId), 'H to subscribe to hello', 10_000)
    let seq = 0
    await waitFor(async () => {
      await m.services.pubsub.publish(Topics.hello, await sealEnvelope(mKey, 'hello', { seq: ++seq, addrs: [], agent: 'evil' }, { cert: mCert }))
      return (await getJson(`${h.api}/v1/mesh`)).peers.some((p: any) => p.peerId === m.peerId.toString())
    }, 'H to know M from its hello', 10_000, 500)

    // the honest provider: trusts the same author, connected to H
    g = await startCliNode({ dataDir: join(tmp.path, 'g'), bootstrap: [h.addresses[0]], args: ['--trust-author', authorText] })
    await waitFor(async () => (await getJson(`${h.api}/v1/node`)).peers.includes(g.peerId), 'G to connect to H', 10_000)
  })

  after(async () => {
    stopped = true
    await m?.stop()
    await g?.stop()
    await h?.stop()
    if (tmp != null) await rmTree(tmp.path)
  })

  // `detail`: which of H's two timers dropped M, where the reason alone does not say
  const cases: Array<{ behaviour: Behaviour, reason: string | ((size: number) => string), detail?: RegExp }> = [
    { behaviour: 'wrong-bytes', reason: 'hash-mismatch' },
    { behaviour: 'truncated', reason: 'truncated' },
    // 1 KiB frames of junk forever: the fetcher reads at most the release's size, then checks the hash
    { behaviour: 'endless-data', reason: (size) => size % 1024 === 0 ? 'hash-mismatch' : 'oversize' },
    { behaviour: 'endless-empty', reason: 'timeout', detail: /timed out after 3000 ms/ }, // fetchTimeoutS 3
    { behaviour: 'drip', reason: 'timeout', detail: /no data for 1000 ms/ }, // fetchStallS 1
    { behaviour: 'oversize-header', reason: 'wrong-size' },
    { behaviour: 'oversize-frame', reason: 'oversize' },
    { behaviour: 'oversize-bytes', reason: 'oversize' },
    { behaviour: 'not-found', reason: 'not-found' }
  ]

  for (const { behaviour, reason, detail } of cases) {
    it(`M ${behaviour}: H gives up on M (${typeof reason === 'string' ? reason : 'oversize'}), fetches from G, keeps only the verified blob`, async () => {
      const name = `evil-${behaviour}`
      const bundle = await makeSkill(name)
      const body = await releaseOf(bundle)
      const cid = bundle.cid.toString()
      offers.set(cid, { bundle, behaviour })
      const expected = typeof reason === 'string' ? reason : reason(bundle.size)

      // M is the first to announce it, so H tries M first
      await announce(body)
      const entry = await waitFor(async () => await show(h, name), `H to index ${name} from M`, 10_000)
      expect(entry.announcer).to.equal(m.peerId.toString())
      expect(entry.cid).to.equal(cid)

      // then the honest G gets the same release and its bundle
      const published = await getJson(`${g.api}/v1/skills/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, bundle: Buffer.from(bundle.bytes).toString('base64') })
      })
      expect(published.cid).to.equal(cid)

      const before = await metrics()
      const line = await fetchOn(h, name)
      expect(line.error, JSON.stringify(line.error)).to.equal(undefined)
      const result = line.result
      expect(result.cid).to.equal(cid)
      expect(result.source).to.equal(g.peerId)
      expect(result.attempts).to.have.length(2)
      const [first, second] = result.attempts
      expect(first.peer).to.equal(m.peerId.toString())
      expect(first.ok).to.equal(false)
      expect(first.reason.split(':')[0], first.reason).to.equal(expected)
      if (detail != null) expect(first.reason).to.match(detail)
      expect(first.bytes).to.equal(0)
      expect(second).to.deep.equal({ peer: g.peerId, ok: true, bytes: bundle.size })

      const after = await metrics()
      expect(fetchCounter(after, 'failed', expected) - fetchCounter(before, 'failed', expected)).to.equal(1)
      expect(fetchCounter(after, 'ok', 'ok') - fetchCounter(before, 'ok', 'ok')).to.equal(1)

      goodBlobs.add(cid)
      await expectOnlyGoodBlobs()
    })
  }

  it('when every provider misbehaves the fetch fails with each reason, and nothing is stored', async () => {
    const name = 'evil-alone'
    const bundle = await makeSkill(name)
    offers.set(bundle.cid.toString(), { bundle, behaviour: 'wrong-bytes' })
    await announce(await releaseOf(bundle))
    await waitFor(async () => await show(h, name), `H to index ${name}`, 10_000)
    const line = await fetchOn(h, name)
    expect(line.result).to.equal(undefined)
    expect(line.error.code).to.equal('ERR_FETCH_FAILED')
    const reasons = line.error.attempts.map((x: any) => `${String(x.peer)} ${String(x.reason).split(':')[0]}`)
    expect(reasons).to.deep.equal([`${m.peerId.toString()} hash-mismatch`, `${g.peerId} not-found`])
    await expectOnlyGoodBlobs()
  })

  it('refuses, counts and never indexes forged, untrusted, rolled-back, replayed and tampered releases from M', async () => {
    const start = await metrics()
    const base = {
      sig: gossipCounter(start, 'reject', 'release-signature'),
      untrusted: gossipCounter(start, 'ignore', 'untrusted-author'),
      rollback: gossipCounter(start, 'ignore', 'rollback'),
      replay: gossipCounter(start, 'reject', 'replay')
    }

    // (b) a release by an author H does not trust (IGNORE: no penalty)
    const stranger = await generateKeyPair('Ed25519')
    await announce(await releaseOf(await makeSkill('stranger-skill'), stranger))

    // (c) 1.1.0, accepted; then 1.0.0 of the same name and author: a rollback
    const newer = await releaseOf(await makeSkill('roll-skill', '1.1.0'))
    const newerEnvelope = await announce(newer)
    await waitFor(async () => (await show(h, 'roll-skill'))?.version === '1.1.0', 'H to index roll-skill 1.1.0', 10_000)
    await announce(await releaseOf(await makeSkill('roll-skill', '1.0.0')))

    // (d) the 1.1.0 envelope again, byte for byte
    await m.services.pubsub.publish(Topics.skills, newerEnvelope)

    // (a) a release whose author signature is forged (one character of it changed)
    const forged = await releaseOf(await makeSkill('forged-skill'))
    const sig = forged.release.signature
    forged.release = { ...forged.release, signature: (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1) } as Release
    await announce(forged)

    // (e) a correctly signed release carrying a manifest other than the signed one
    const tampered = await releaseOf(await makeSkill('tampered-skill'))
    tampered.manifest = { ...tampered.manifest, description: 'not what the author signed' }
    await announce(tampered)

    const text = await waitFor(async () => {
      const t = await metrics()
      return gossipCounter(t, 'reject', 'release-signature') >= base.sig + 2 &&
        gossipCounter(t, 'ignore', 'untrusted-author') >= base.untrusted + 1 &&
        gossipCounter(t, 'ignore', 'rollback') >= base.rollback + 1 &&
        gossipCounter(t, 'reject', 'replay') >= base.replay + 1
        ? t
        : undefined
    }, 'every bad release to be counted', 15_000)
    expect(gossipCounter(text, 'reject', 'release-signature') - base.sig).to.equal(2)
    expect(gossipCounter(text, 'ignore', 'untrusted-author') - base.untrusted).to.equal(1)
    expect(gossipCounter(text, 'ignore', 'rollback') - base.rollback).to.equal(1)
    expect(gossipCounter(text, 'reject', 'replay') - base.replay).to.equal(1)
    expect(text).to.match(/^aas_skill_releases_total\{source="gossip",result="refused",reason="untrusted-author"\} 1$/m)
    expect(text).to.match(/^aas_skill_releases_total\{source="gossip",result="refused",reason="rollback"\} 1$/m)

    // none of them is in H's index
    for (const name of ['stranger-skill', 'forged-skill', 'tampered-skill']) {
      expect(await show(h, name), name).to.equal(undefined)
    }
    const roll = await show(h, 'roll-skill')
    expect(roll.version).to.equal('1.1.0')
    expect(roll.versions).to.deep.equal(['1.1.0'])
    expect(await show(h, 'roll-skill@1.0.0')).to.equal(undefined)
    const names = (await getJson(`${h.api}/v1/skills?q=`)).map((x: any) => `${String(x.name)}@${String(x.version)}`)
    for (const bad of ['stranger-skill@1.0.0', 'forged-skill@1.0.0', 'tampered-skill@1.0.0', 'roll-skill@1.0.0']) expect(names).to.not.include(bad)
    expect(names).to.include('roll-skill@1.1.0')
    expect((await getJson(`${h.api}/healthz`)).status).to.equal('ok')
  })
})
