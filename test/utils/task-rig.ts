import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Ajv, type ValidateFunction } from 'ajv'
import { AuditChainVerifier, type AuditEntry, type MessageSpec, type Release } from '../../protocol/index.js'
import { AuditLog, type AuditRecord } from '../../node/audit/index.js'
import { createLogger, type Logger } from '../../node/log.js'
import { Signer } from '../../node/signer.js'
import { Bucket, NodeStore, type StoreOp, type WriteOptions } from '../../node/store/index.js'
import { TaskStore, type TaskRecord } from '../../node/tasks/index.js'

/**
 * The real parts under the task core, for unit tests of the state machine and the origin: a
 * LevelDB in a temp dir, an AuditLog signing with a generated key, a manual clock, a gossip
 * stub that keeps what was published (and whether its body passes the message's schema), and
 * a skill index that knows one release.
 */
export const T0 = 1_700_000_000_000

export class Clock {
  now = T0
  readonly fn = (): number => this.now
  advance (ms: number): number { this.now += ms; return this.now }
}

export const silentLog = (): Logger => createLogger('silent')

/** A fresh ed25519 peer id (executors, submitters): valid wherever a message wants a peer id. */
export async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

/**
 * Wraps the real AuditLog's `write`: keeps each call's options, and can be told to fail
 * the next write (before anything reaches the disk).
 */
export class AuditTap {
  readonly calls: Array<{ actions: string[], sync: boolean | undefined }> = []
  failNext: Error | undefined

  constructor (private readonly log: AuditLog) {}

  readonly write = async (records: AuditRecord[], ops: StoreOp[], options: WriteOptions): Promise<unknown> => {
    const fail = this.failNext
    if (fail != null) { this.failNext = undefined; throw fail }
    this.calls.push({ actions: records.map(r => r.action), sync: options.sync })
    return await this.log.write(records, ops, options)
  }
}

/** One node's disk: store, audit log (its key and clock) and a way to restart on the same dir. */
export class Disk {
  store!: NodeStore
  audit!: AuditLog
  signer!: Signer

  private constructor (readonly dir: string, readonly clock: Clock) {}

  static async open (clock: Clock, prefix = 'aas-tasks-'): Promise<Disk> {
    const d = new Disk(await mkdtemp(join(tmpdir(), prefix)), clock)
    d.signer = new Signer(await generateKeyPair('Ed25519'))
    await d.reopen()
    return d
  }

  /** Opens (again) the database and the audit log of this dir, as a restarted node does. */
  async reopen (): Promise<void> {
    this.store = new NodeStore(this.dir)
    await this.store.open()
    this.audit = new AuditLog({ store: this.store, signer: this.signer, metrics: null, log: silentLog(), now: this.clock.fn })
    await this.audit.open()
  }

  async close (): Promise<void> {
    await this.audit.stop()
    await this.store.close()
  }

  async destroy (): Promise<void> {
    await this.close()
    await rm(this.dir, { recursive: true, force: true })
  }

  /** A TaskStore of its own over the same db: what is on disk, not what a cache holds. */
  async onDisk (id: string): Promise<TaskRecord | undefined> {
    return await new TaskStore(this.store.sublevel(Bucket.tasks)).get(id)
  }

  async entries (from = 1): Promise<AuditEntry[]> {
    return await this.audit.read(from, 100_000)
  }

  /** The whole audit chain checks out: links, signatures (this node's key), seqs from 1. */
  async verifyChain (): Promise<{ ok: boolean, entries: number, fault?: unknown }> {
    const v = new AuditChainVerifier({ node: this.signer.peerId, from: 1 })
    for (const e of await this.entries()) v.push(e)
    return v.report()
  }
}

export interface Published { type: string, body: any, valid: boolean }

/** `gossip.publish` that keeps each message; `valid`: its body passes the message's schema. */
/** The team topic unit tests' origins announce team tasks on. */
export const TEST_TEAM_TOPIC = '/aas/1/team/0000000000000000/tasks'

export class GossipStub {
  readonly published: Published[] = []
  private readonly ajv = new Ajv({ strict: false })
  private readonly compiled = new Map<string, ValidateFunction>()

  readonly publish = async <B>(spec: MessageSpec<B>, body: B, _opts?: { topic?: string }): Promise<any> => {
    let validate = this.compiled.get(spec.type)
    if (validate == null) { validate = this.ajv.compile(spec.schema); this.compiled.set(spec.type, validate) }
    this.published.push({ type: spec.type, body: structuredClone(body), valid: validate(body) })
    return { recipients: [] }
  }

  types (): string[] { return this.published.map(p => p.type) }
  clear (): void { this.published.length = 0 }
}

export const SKILL_NAME = 'word-count'

/** The one release the index stub knows; its manifest's input schema wants `{ text: string }`. */
export const skillRelease: Release = {
  name: SKILL_NAME,
  version: '1.2.0',
  cid: 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
  size: 2048,
  author: 'z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
  publishedAt: T0 - 86_400_000,
  manifestDigest: 'a'.repeat(64),
  signature: 'A'.repeat(86)
}

export const skillManifest = {
  name: SKILL_NAME,
  version: '1.2.0',
  runtime: 'python3',
  entry: 'main.py',
  inputSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['text'],
    properties: { text: { type: 'string' } }
  },
  resources: { memoryMB: 128 }
}

/** `index.resolve`: the release by its name, name@version or CID; nothing else. */
export const indexStub = {
  resolve (ref: string): { release: Release, manifest: Record<string, any> } | undefined {
    return [SKILL_NAME, `${SKILL_NAME}@${skillRelease.version}`, skillRelease.cid].includes(ref)
      ? { release: skillRelease, manifest: skillManifest }
      : undefined
  }
}
