import * as lp from 'it-length-prefixed'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import {
  checkSkillRelease, decodeCanonical, encodeCanonical, GossipAction, GossipActionError, manifestDigest, Protocols, RejectCode,
  skillRelease, SKILL_RELEASE_MAX_BYTES, type MessageRegistry, type Release, type SkillReleaseBody
} from '../../protocol/index.js'
import { bundleCid, bundleManifest } from '../../skills/bundle/index.js'
import { BundleFetcher, BundleServer, FetchError, FetchErrorCode, isFetchError, type ProviderAttempt } from '../../skills/fetch/index.js'
import type { IndexEntry, SkillIndex } from '../../skills/index/index.js'
import type { BlobStore } from '../../skills/store/index.js'
import type { TrustPolicy } from '../../federation/index.js'
import type { GossipRouter } from '../gossip/index.js'
import type { MeshKeeper } from '../mesh/index.js'
import type { Host } from '../p2p/host.js'
import type { StreamLimiter } from '../p2p/stream-limits.js'
import type { Metrics } from '../metrics.js'
import type { Logger } from '../log.js'
import type { AuditLog, AuditRecord } from '../audit/index.js'
import { PublishError, PublishErrorCode } from './errors.js'

/**
 * The skill library on this node (the seed's Pantheon): accepts local publishes, indexes
 * releases heard on gossip or from peers' indexes, serves its bundles and its index to peers,
 * and fetches bundles by CID from the announcer or any peer that holds them. The local blob
 * store is asked first; a release is fetched only when its author is trusted.
 */
export interface SkillServiceComponents {
  host: Host
  gossip: GossipRouter
  mesh: MeshKeeper
  index: SkillIndex
  blobs: BlobStore
  trust: TrustPolicy
  registry: MessageRegistry
  metrics: Metrics
  log: Logger
  /** The audit trail: releases indexed or refused, bundles fetched, verified or refused. */
  audit?: Pick<AuditLog, 'write'>
  /** Told of refusals a peer can repeat at will (the audit trail's flood-safe record). */
  onRefused?: (sender: string, reason: string, channel: string) => void
  /** Per-peer stream rates of the bundle and index-sync protocols (node/p2p/stream-limits.ts). */
  streams?: Pick<StreamLimiter, 'admit'>
  /**
   * Is this peer a member (of the team or a partner, not revoked)? Bundles are asked of and
   * served to members only: which skill an executor fetches would tell an outsider what runs.
   */
  isMember?: (peer: string) => boolean
  /**
   * Checks an author's certificate (role `author`, of the team or a partner granted
   * `trust-authors`) and trusts the author from then on; throws GossipActionError REJECT.
   */
  certifyAuthor?: (author: string, cert: string) => Promise<void>
}

export interface SkillServiceInit {
  maxBundleBytes: number
  fetchTimeoutMs: number
  fetchStallMs: number
}

export interface FetchResult {
  cid: string
  size: number
  /** Where it came from: `local` (already cached) or the provider's peer id. */
  source: string
  dir: string
  /** The verified bundle file in the blob store. */
  blob: string
  release: Release
  attempts: ProviderAttempt[]
}

const MAX_SYNC_ENTRIES = 10_000

export class SkillService {
  private readonly synced = new Set<string>()
  private readonly inflight = new Map<string, Promise<FetchResult>>()
  private readonly fetcher: BundleFetcher
  private readonly server: BundleServer

  constructor (private readonly c: SkillServiceComponents, private readonly init: SkillServiceInit) {
    this.fetcher = new BundleFetcher(c, { maxBytes: init.maxBundleBytes, timeoutMs: init.fetchTimeoutMs, stallMs: init.fetchStallMs })
    this.server = new BundleServer(c, {
      onServed: (n) => { c.metrics.skillServedBytes.inc(n) },
      admit: (peer: string) => !(c.isMember?.(peer) ?? true) ? 'not-member' : (c.streams?.admit(Protocols.bundle, peer) ?? true) || 'rate-limited'
    })
  }

  async start (): Promise<void> {
    const { c } = this
    // authors trusted by certificate: trusted again from the certificates their releases came with
    for (const e of c.index.everyEntry()) {
      if (e.authorCert != null) await c.certifyAuthor?.(e.release.author, e.authorCert).catch((err) => { c.log.info({ author: e.release.author, err: err.message }, 'an indexed author\'s certificate no longer holds') })
    }
    c.metrics.skillIndexSize.set(c.index.size)
    c.gossip.handle<SkillReleaseBody>(skillRelease, async (msg) => {
      await this.index(msg.envelope.body, msg.sender, 'gossip')
    }, {
      admit: async (msg) => {
        try {
          if (msg.envelope.body.authorCert != null) await c.certifyAuthor?.(msg.envelope.body.release.author, msg.envelope.body.authorCert)
          c.index.admit(msg.envelope.body)
        } catch (err) {
          if (err instanceof GossipActionError) {
            c.metrics.skillReleases.inc({ source: 'gossip', result: 'refused', reason: err.reason })
            // rejections are noted by the gossip router; ignored ones (untrusted, rollback) here
            if (err.action === GossipAction.IGNORE) c.onRefused?.(msg.sender, err.reason, 'release')
          }
          throw err
        }
      }
    })
    await this.server.start()
    await c.host.handle(Protocols.releases, ({ stream, connection }) => {
      // over its rate: the stream ends with no entries (a sync is once per connection)
      if (c.streams?.admit(Protocols.releases, connection.remotePeer.toString()) === false) { stream.abort(new Error('rate limited')); return }
      const entries = c.index.all()
      void stream.sink((async function * () {
        for (const e of entries.slice(0, MAX_SYNC_ENTRIES)) yield lp.encode.single(encodeCanonical({ release: e.release, manifest: e.manifest, ...(e.authorCert != null ? { authorCert: e.authorCert } : {}) }))
      })()).catch((err) => { stream.abort(err) })
    }, { maxInboundStreams: 8 })
    c.host.addEventListener('peer:identify', this.onIdentify)
  }

  async stop (): Promise<void> {
    this.c.host.removeEventListener('peer:identify', this.onIdentify)
    await Promise.all([this.c.host.unhandle(Protocols.releases), this.server.stop()])
  }

  private readonly onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
    const { peerId, protocols } = evt.detail
    if (!protocols.includes(Protocols.releases) || this.synced.has(peerId.toString())) return
    this.synced.add(peerId.toString())
    void this.syncFrom(peerId).catch((err) => {
      this.synced.delete(peerId.toString())
      this.c.log.debug({ peer: peerId.toString(), err: err.message }, 'index sync failed')
    })
  }

  /** Asks a peer for its whole index; every entry is checked as a gossiped one would be. */
  async syncFrom (peer: PeerId): Promise<number> {
    const stream = await this.c.host.dialProtocol(peer, Protocols.releases, { signal: AbortSignal.timeout(30_000) })
    await stream.closeWrite()
    const spec = this.c.registry.get(skillRelease.type)!
    let added = 0
    let n = 0
    for await (const frame of lp.decode(stream.source, { maxDataLength: SKILL_RELEASE_MAX_BYTES })) {
      if (++n > MAX_SYNC_ENTRIES) break
      let body: SkillReleaseBody
      try {
        body = decodeCanonical(frame.subarray()) as SkillReleaseBody
        if (!spec.validate(body)) throw new Error('schema')
        await checkSkillRelease(body)
        if (body.authorCert != null) await this.c.certifyAuthor?.(body.release.author, body.authorCert)
      } catch (err) {
        const reason = err instanceof GossipActionError ? err.reason : 'schema'
        this.c.metrics.skillReleases.inc({ source: 'sync', result: 'refused', reason })
        this.c.onRefused?.(peer.toString(), reason, 'release-sync')
        continue
      }
      if (await this.index(body, peer.toString(), 'sync') === 'indexed') added++
    }
    this.c.log.debug({ peer: peer.toString(), received: n, added }, 'index synced')
    return added
  }

  private async index (body: SkillReleaseBody, announcer: string, source: 'gossip' | 'sync' | 'local'): Promise<'indexed' | 'duplicate' | 'refused'> {
    const { metrics } = this.c
    try {
      const admission = await this.c.index.add(body, announcer)
      const result = admission === 'new' ? 'indexed' : 'duplicate'
      metrics.skillReleases.inc({ source, result, reason: 'ok' })
      metrics.skillIndexSize.set(this.c.index.size)
      if (admission === 'new') {
        this.c.log.info({ name: body.release.name, version: body.release.version, cid: body.release.cid, source }, 'skill release indexed')
        this.audit({ action: 'release.indexed', subject: body.release.cid, actor: announcer, details: { name: body.release.name, version: body.release.version, author: body.release.author, source } })
      }
      return result
    } catch (err) {
      if (!(err instanceof GossipActionError)) throw err
      // gossip refusals were counted by the admit hook already
      if (source !== 'gossip') metrics.skillReleases.inc({ source, result: 'refused', reason: err.reason })
      if (source === 'local') this.audit({ action: 'release.refused', subject: body.release.cid, actor: announcer, details: { name: body.release.name, version: body.release.version, reason: err.reason, source } })
      else this.c.onRefused?.(announcer, err.reason, `release-${source}`)
      return 'refused'
    }
  }

  /**
   * A local publish: the signed release, its manifest and the bundle bytes. Everything is
   * checked before anything is stored; then the blob is stored, the release indexed and
   * announced.
   */
  async publish (release: Release, manifest: Record<string, unknown>, bytes: Uint8Array, authorCert?: string): Promise<{ cid: string, announced: boolean }> {
    // every refusal is counted, as a gossiped or synced one is (`aas_skill_releases_total{source="local"}`)
    const refused = (reason: RejectCode): void => { this.c.metrics.skillReleases.inc({ source: 'local', result: 'refused', reason }) }
    const bad = (msg: string, reason = RejectCode.MALFORMED): never => {
      refused(reason)
      throw new PublishError(msg, PublishErrorCode.INVALID)
    }
    if (bytes.length !== release.size) bad(`the bundle is ${bytes.length} bytes; the release says ${release.size}`)
    if (bytes.length > this.init.maxBundleBytes) bad(`the bundle is over this node's ${this.init.maxBundleBytes} byte limit`, RejectCode.OVERSIZE)
    if (bundleCid(bytes).toString() !== release.cid) bad('the bundle does not hash to the release\'s CID')
    let inBundle: Record<string, unknown>
    try {
      inBundle = bundleManifest(bytes) as unknown as Record<string, unknown>
    } catch (err: any) {
      return bad(err.message)
    }
    if (manifestDigest(inBundle) !== release.manifestDigest || manifestDigest(manifest) !== release.manifestDigest) bad('the manifest differs from the one in the bundle or the one signed')
    const body: SkillReleaseBody = { release, manifest, ...(authorCert != null ? { authorCert } : {}) }
    const spec = this.c.registry.get(skillRelease.type)!
    if (!spec.validate(body)) bad(`the release is malformed: ${spec.validate.errors?.[0]?.instancePath ?? ''} ${spec.validate.errors?.[0]?.message ?? ''}`, RejectCode.SCHEMA)
    try {
      await checkSkillRelease(body)
      if (authorCert != null) await this.c.certifyAuthor?.(release.author, authorCert)
      this.c.index.admit(body)
    } catch (err: any) {
      if (!(err instanceof GossipActionError)) throw err
      refused(err.reason)
      this.audit({ action: 'release.refused', subject: release.cid, details: { name: release.name, version: release.version, author: release.author, reason: err.reason, source: 'local' } })
      const code = PUBLISH_CODE[err.reason] ?? PublishErrorCode.INVALID
      const hint = code === PublishErrorCode.UNTRUSTED ? `; start the node with --trust-author ${release.author} (or add it to trust.authors)` : ''
      throw new PublishError(`${err.message.replace(/^\w+ \([\w-]+\): /, '')}${hint}`, code)
    }
    await this.c.blobs.put(release.cid, bytes)
    await this.index(body, this.c.host.peerId.toString(), 'local')
    // no peers yet: the release is indexed and peers learn it by index sync when they connect
    const announced = await this.c.gossip.publish(skillRelease, body).then(({ recipients }) => recipients > 0, (err) => {
      this.c.log.debug({ err: err.message }, 'skill release not gossiped')
      return false
    })
    return { cid: release.cid, announced }
  }

  /** Writes entries in the background: a full disk is logged by the audit log itself. */
  private audit (...records: AuditRecord[]): void {
    void this.c.audit?.write(records).catch(() => {})
  }

  /** The bundle's bytes from the local store, hashed against the CID as they are read. */
  async verifiedBundle (cid: string): Promise<Uint8Array> {
    return await this.c.blobs.get(cid)
  }

  async isCached (cid: string): Promise<boolean> {
    return await this.c.blobs.has(cid)
  }

  /**
   * Local cache first, then the announcer, then every connected peer, until one delivers
   * bytes that hash to the CID. Concurrent fetches of one CID share one download.
   */
  async fetch (ref: string, opts: { signal?: AbortSignal, onProgress?: (p: { peer: string, bytes: number, total: number }) => void } = {}): Promise<FetchResult> {
    const entry = this.c.index.resolve(ref)
    if (entry == null) throw new FetchError(`no trusted release matches ${ref}: check the name, range or CID with "aas skill search"`, FetchErrorCode.NOT_FOUND)
    const cid = entry.release.cid
    const running = this.inflight.get(cid)
    if (running != null) return await running
    const p = this.fetchEntry(entry, opts).finally(() => { this.inflight.delete(cid) })
    this.inflight.set(cid, p)
    return await p
  }

  private async fetchEntry (entry: IndexEntry, opts: { signal?: AbortSignal, onProgress?: (p: { peer: string, bytes: number, total: number }) => void }): Promise<FetchResult> {
    const { release } = entry
    const { c } = this
    if (await c.blobs.has(release.cid)) {
      try {
        const { dir } = await c.blobs.unpack(release.cid)
        return { cid: release.cid, size: release.size, source: 'local', dir, blob: c.blobs.path(release.cid), release, attempts: [] }
      } catch (err: any) {
        c.log.warn({ cid: release.cid, err: err.message }, 'cached bundle unusable; fetching again')
      }
    }
    if (release.size > this.init.maxBundleBytes) throw new FetchError(`${release.name}@${release.version} is ${release.size} bytes, over this node's ${this.init.maxBundleBytes} byte bundle limit (skills.maxBundleBytes)`, FetchErrorCode.FAILED)
    const attempts: ProviderAttempt[] = []
    for (const provider of this.providers(entry)) {
      const started = performance.now()
      const peer = provider.peer
      try {
        const bytes = await this.fetcher.fetchFrom(provider.target, release.cid, { size: release.size, signal: opts.signal, onProgress: opts.onProgress })
        c.metrics.skillFetches.inc({ result: 'ok', reason: 'ok' })
        c.metrics.skillFetchBytes.inc(bytes)
        c.metrics.skillFetchSeconds.observe((performance.now() - started) / 1000)
        attempts.push({ peer, ok: true, bytes })
        const what = { name: release.name, version: release.version, author: release.author }
        this.audit(
          { action: 'bundle.fetched', subject: release.cid, actor: peer, details: { ...what, bytes } },
          { action: 'bundle.verified', subject: release.cid, details: { ...what, hash: 'sha2-256 matches the CID', signature: 'release signed by a trusted author' } }
        )
        const { dir } = await c.blobs.unpack(release.cid)
        return { cid: release.cid, size: bytes, source: peer, dir, blob: c.blobs.path(release.cid), release, attempts }
      } catch (err: any) {
        const reason = fetchReason(err)
        c.metrics.skillFetches.inc({ result: 'failed', reason })
        attempts.push({ peer, ok: false, reason: `${reason}: ${String(err.message)}`, bytes: 0 })
        this.audit({ action: 'bundle.refused', subject: release.cid, actor: peer, details: { reason, code: err.code ?? null } })
        c.log.info({ cid: release.cid, peer, reason, err: err.message }, 'bundle fetch from a provider failed; trying the next')
        if (opts.signal?.aborted === true) break
      }
    }
    const tried = attempts.map(a => `${a.peer.slice(-8)}: ${a.reason ?? 'ok'}`).join('; ')
    throw new FetchError(attempts.length === 0
      ? `no provider of ${release.cid} is reachable (the announcer is not connected and no peer is)`
      : `could not fetch ${release.cid} from any provider (${tried})`, attempts.length === 0 ? FetchErrorCode.NO_PROVIDER : FetchErrorCode.FAILED, { attempts })
  }

  /** The announcer first (dialled through the addresses its hellos gave), then connected peers. */
  private providers (entry: IndexEntry): Array<{ peer: string, target: PeerId | Multiaddr[] }> {
    const self = this.c.host.peerId.toString()
    const out: Array<{ peer: string, target: PeerId | Multiaddr[] }> = []
    const seen = new Set<string>([self])
    const announcer = entry.announcer
    if (!seen.has(announcer)) {
      seen.add(announcer)
      const connected = this.c.host.getPeers().some(p => p.toString() === announcer)
      const known = this.c.mesh.knownPeers().find(k => k.peerId === announcer)
      if (connected) out.push({ peer: announcer, target: peerIdFromString(announcer) })
      else if (known != null && known.addrs.length > 0) out.push({ peer: announcer, target: known.addrs.map(a => multiaddr(`${a}/p2p/${announcer}`)) })
    }
    const member = this.c.isMember ?? (() => true)
    if (out.length > 0 && !member(out[0].peer)) out.pop()
    for (const p of this.c.host.getPeers()) {
      if (seen.has(p.toString()) || !member(p.toString())) continue
      seen.add(p.toString())
      out.push({ peer: p.toString(), target: p })
    }
    return out
  }
}

/** A refused publish's code, by the index's (or validator's) refusal code. */
const PUBLISH_CODE: Partial<Record<RejectCode, PublishErrorCode>> = {
  [RejectCode.UNTRUSTED_AUTHOR]: PublishErrorCode.UNTRUSTED,
  [RejectCode.CONFLICT]: PublishErrorCode.CONFLICT,
  [RejectCode.ROLLBACK]: PublishErrorCode.ROLLBACK
}

/** Label values of `aas_skill_fetch_attempts_total{reason}` for a failed attempt: a fixed set. */
type FetchReason = 'hash-mismatch' | 'oversize' | 'not-found' | 'truncated' | 'timeout' | 'wrong-size' | 'error'

const FETCH_REASON: Partial<Record<FetchErrorCode, FetchReason>> = {
  [FetchErrorCode.NOT_FOUND]: 'not-found',
  [FetchErrorCode.WRONG_SIZE]: 'wrong-size',
  [FetchErrorCode.TRUNCATED]: 'truncated',
  [FetchErrorCode.OVERSIZE]: 'oversize',
  [FetchErrorCode.HASH_MISMATCH]: 'hash-mismatch',
  [FetchErrorCode.STALL]: 'timeout',
  [FetchErrorCode.TIMEOUT]: 'timeout'
}

/** The blob store's refusals (unpacking a fetched bundle reads it back and hashes it again). */
const BLOB_REASON: Record<string, FetchReason> = {
  ERR_CID_MISMATCH: 'hash-mismatch',
  ERR_BLOB_TOO_LARGE: 'oversize'
}

function fetchReason (err: unknown): FetchReason {
  if (isFetchError(err)) return FETCH_REASON[err.code] ?? 'error'
  if ((err as Error | undefined)?.name === 'BlobError') return BLOB_REASON[String((err as { code?: unknown }).code)] ?? 'error'
  return 'error'
}
