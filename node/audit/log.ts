import { createHash } from 'node:crypto'
import {
  AUDIT_GENESIS, auditDetails, auditEntryHash, auditSigningPayload, checkpointSigningPayload,
  decodeCanonical, encodeCanonical, type AuditCheckpoint, type AuditEntry, type UnsignedAuditEntry
} from '../../protocol/index.js'
import { Bucket, type Db, type NodeStore, type StoreOp, type WriteOptions } from '../store/index.js'
import type { Signer } from '../signer.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { AuditRecord } from './actions.js'
import { AuditError, AuditErrorCode } from './errors.js'
import { defaultAuditLogOptions, type AuditLogOptions } from './options.js'

/**
 * The node's audit trail (DESIGN.md "Audit trail"): append-only entries in LevelDB, each
 * chained to the one before by hash and signed by the node key. An entry is written in the
 * same batch as the state change it records (`write(records, ops)`), so a crash leaves both
 * or neither. Every N entries or M seconds the node signs a checkpoint {node, seq, headHash};
 * witnesses that keep it can later tell a cut or rewritten tail.
 */
export { defaultAuditLogOptions, type AuditLogOptions } from './options.js'

export interface AuditLogComponents {
  store: Pick<NodeStore, 'write' | 'sublevel'>
  signer: Pick<Signer, 'peerId' | 'signPayload'>
  metrics: Metrics | null
  log: Logger
  now?: () => number
}

/** Keys in the audit bucket: entries sort by seq. */
export const entryKey = (seq: number): string => `e!${String(seq).padStart(16, '0')}`
export const CHECKPOINT_KEY = 'c!latest'

export class AuditLog {
  private readonly db: Db
  private readonly opts: AuditLogOptions
  private readonly now: () => number
  /** Last staged entry (possibly not on disk yet). */
  private seq = 0
  private head = AUDIT_GENESIS
  /** Last entry known on disk. */
  private committedSeq = 0
  private committedHead = AUDIT_GENESIS
  private checkpointed: AuditCheckpoint | undefined
  private broken: unknown
  private timer: NodeJS.Timeout | undefined
  private readonly listeners = new Set<(e: AuditEntry) => void>()

  constructor (private readonly c: AuditLogComponents, opts: Partial<AuditLogOptions> = {}) {
    this.db = c.store.sublevel(Bucket.audit)
    this.opts = { ...defaultAuditLogOptions, ...opts }
    this.now = c.now ?? Date.now
  }

  get headSeq (): number { return this.committedSeq }
  get headHash (): string { return this.committedHead }
  get node (): string { return this.c.signer.peerId }

  /** Finds the head on disk. The chain itself is checked by `aas audit verify`, not at every start. */
  async open (): Promise<void> {
    for await (const [, value] of this.db.iterator({ gte: 'e!', lt: 'e!\xff', reverse: true, limit: 1 })) {
      const last = decodeCanonical(value) as AuditEntry
      this.seq = this.committedSeq = last.seq
      this.head = this.committedHead = auditEntryHash(last)
    }
    const cp = await this.db.get(CHECKPOINT_KEY)
    if (cp != null) this.checkpointed = decodeCanonical(cp) as AuditCheckpoint
    this.c.metrics?.auditHeadSeq.set(this.committedSeq)
  }

  start (): void {
    this.timer = setInterval(() => { void this.checkpointIfDue(true) }, Math.max(1000, this.opts.checkpointIntervalMs))
    this.timer.unref()
  }

  /** Stops the timer and signs a last checkpoint, so a clean stop leaves the head witnessed. */
  async stop (): Promise<void> {
    clearInterval(this.timer)
    if (this.broken == null && this.committedSeq > (this.checkpointed?.seq ?? 0)) await this.checkpoint().catch(() => {})
  }

  /** Calls `fn` with every entry once it is on disk (API followers, `aas audit tail --follow`). */
  subscribe (fn: (e: AuditEntry) => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  /**
   * Writes `records` as the next entries together with `ops` (the state change they record)
   * in one batch. Seqs are taken and the batch queued before this returns to the event loop,
   * so entries reach the disk in seq order.
   */
  async write (records: AuditRecord[], ops: StoreOp[] = [], options: WriteOptions = {}): Promise<AuditEntry[]> {
    if (this.broken != null) throw new AuditError('the audit log stopped taking entries after a failed write: restart the node', AuditErrorCode.WRITE_FAILED, { cause: this.broken })
    const staged = records.map(r => this.stage(r))
    const entries = staged.map(s => s.entry)
    const all = [...ops, ...staged.map(({ entry, bytes }) => ({ type: 'put' as const, bucket: Bucket.audit, key: entryKey(entry.seq), value: bytes }))]
    try {
      await this.c.store.write(all, options)
    } catch (err) {
      // later staged entries chain onto these: none of them may land now
      this.broken = err
      this.c.log.error({ err }, 'audit log write failed: no more entries until restart')
      throw new AuditError(`writing the audit log failed: ${(err as Error).message}`, AuditErrorCode.WRITE_FAILED, { cause: err })
    }
    for (const { entry: e, bytes } of staged) {
      if (e.seq > this.committedSeq) { this.committedSeq = e.seq; this.committedHead = createHash('sha256').update(bytes).digest('hex') }
      this.c.metrics?.auditEntries.inc({ action: e.action })
      for (const fn of this.listeners) fn(e)
    }
    this.c.metrics?.auditHeadSeq.set(this.committedSeq)
    void this.checkpointIfDue(false)
    return entries
  }

  /** One record on its own batch. */
  async append (record: AuditRecord, options: WriteOptions = {}): Promise<AuditEntry> {
    return (await this.write([record], [], options))[0]
  }

  private stage (r: AuditRecord): { entry: AuditEntry, bytes: Uint8Array } {
    const unsigned: UnsignedAuditEntry = {
      seq: this.seq + 1,
      ts: this.now(),
      actor: r.actor ?? this.c.signer.peerId,
      action: r.action,
      subject: r.subject,
      details: auditDetails(r.details),
      prev: this.head,
      node: this.c.signer.peerId
    }
    const entry: AuditEntry = { ...unsigned, sig: Buffer.from(this.c.signer.signPayload(auditSigningPayload(unsigned))).toString('base64url') }
    // the stored bytes are the canonical encoding the next entry's link hashes
    const bytes = encodeCanonical(entry)
    this.seq = entry.seq
    this.head = createHash('sha256').update(bytes).digest('hex')
    return { entry, bytes }
  }

  /** Entries from `from` (inclusive), at most `limit`. */
  async read (from = 1, limit = 1000): Promise<AuditEntry[]> {
    return await readEntries(this.db, from, limit)
  }

  latestCheckpoint (): AuditCheckpoint | undefined {
    return this.checkpointed
  }

  /** Signs {node, seq, headHash} of what is on disk now and keeps it as the latest checkpoint. */
  async checkpoint (): Promise<AuditCheckpoint> {
    const unsigned = { node: this.c.signer.peerId, seq: this.committedSeq, headHash: this.committedHead, ts: this.now() }
    const cp: AuditCheckpoint = { ...unsigned, sig: Buffer.from(this.c.signer.signPayload(checkpointSigningPayload(unsigned))).toString('base64url') }
    await this.c.store.write([{ type: 'put', bucket: Bucket.audit, key: CHECKPOINT_KEY, value: encodeCanonical(cp) }])
    if (cp.seq >= (this.checkpointed?.seq ?? 0)) this.checkpointed = cp
    return cp
  }

  private checkpointing = false

  private async checkpointIfDue (timed: boolean): Promise<void> {
    const last = this.checkpointed
    const fresh = this.committedSeq - (last?.seq ?? 0)
    if (this.checkpointing || this.broken != null || fresh <= 0) return
    const due = fresh >= this.opts.checkpointEvery || (timed && this.now() - (last?.ts ?? 0) >= this.opts.checkpointIntervalMs)
    if (!due) return
    this.checkpointing = true
    try {
      await this.checkpoint()
    } catch (err) {
      this.c.log.warn({ err }, 'audit checkpoint failed')
    } finally {
      this.checkpointing = false
    }
  }
}

/** Entries of an audit bucket in key order (a stopped node's data dir, or the running log). */
export async function readEntries (db: Db, from = 1, limit = Infinity): Promise<AuditEntry[]> {
  const out: AuditEntry[] = []
  for await (const e of iterateEntries(db, from)) {
    out.push(e)
    if (out.length >= limit) break
  }
  return out
}

/**
 * Every value in the entry range, decoded. A value that is not even CBOR is handed on as
 * `{ undecodable: key }`, so the verifier names its place instead of stopping the read.
 */
export async function * iterateEntries (db: Db, from = 1): AsyncGenerator<AuditEntry> {
  for await (const [key, value] of db.iterator({ gte: entryKey(Math.max(1, from)), lt: 'e!\xff' })) {
    let e: unknown
    try { e = decodeCanonical(value) } catch { e = { undecodable: key } }
    yield e as AuditEntry
  }
}
