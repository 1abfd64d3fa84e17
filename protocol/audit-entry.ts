import { createHash, createPublicKey, verify as edVerify, type KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { domainSeparated, encodeCanonical } from './codec.js'

/**
 * The audit trail's entry (DESIGN.md "Federation and security": "Audit trail"): an append-only,
 * hash-chained, node-signed record of one action. Pure: the format, its hash, the payload its
 * signature covers, and the checks an auditor runs over a sequence of entries, with no I/O, so
 * the node's log, `aas audit verify` on a data dir and on an exported file all share one proof.
 *
 * Every field is plain JSON (strings, integers, maps, lists), so an entry read from LevelDB
 * (DAG-CBOR) and the same entry read from an export (one JSON line) encode to the same
 * canonical bytes and have the same hash.
 */
export const AUDIT_DOMAIN = 'aas/audit-entry/v1'
export const AUDIT_CHECKPOINT_DOMAIN = 'aas/audit-checkpoint/v1'
/** `prev` of the first entry. */
export const AUDIT_GENESIS = '0'.repeat(64)
/** Largest `details` an entry carries, encoded; bigger ones are cut to a summary. */
export const AUDIT_DETAILS_MAX_BYTES = 4096

export interface UnsignedAuditEntry {
  /** 1, 2, 3, … with no gap. */
  seq: number
  /** Milliseconds since the Unix epoch, by the node's clock. */
  ts: number
  /** Who did it: a peer id, `user:NAME`, or the node's own peer id for its own acts. */
  actor: string
  /** What was done, from a fixed set (`task.accepted`, `bundle.refused`, …). */
  action: string
  /** What it was done to: a task id, a CID, a peer id, a setting. */
  subject: string
  details: Record<string, unknown>
  /** Hex sha2-256 of the previous entry (`AUDIT_GENESIS` for seq 1). */
  prev: string
  /** Peer id of the node whose key signs the entry. */
  node: string
}

export interface AuditEntry extends UnsignedAuditEntry {
  /** base64url ed25519 signature over `domainSeparated(AUDIT_DOMAIN, unsigned entry)`. */
  sig: string
}

/** A node's signed statement that its log held `headHash` at `seq`; witnesses keep the latest. */
export interface UnsignedAuditCheckpoint {
  node: string
  seq: number
  headHash: string
  ts: number
}

export interface AuditCheckpoint extends UnsignedAuditCheckpoint {
  sig: string
}

/** The order of fields on an exported line: a line must be exactly this form of its entry. */
const ENTRY_FIELDS = ['seq', 'ts', 'actor', 'action', 'subject', 'details', 'prev', 'node', 'sig'] as const

export function auditSigningPayload (e: UnsignedAuditEntry): Uint8Array {
  const { seq, ts, actor, action, subject, details, prev, node } = e
  return domainSeparated(AUDIT_DOMAIN, { seq, ts, actor, action, subject, details, prev, node })
}

export function checkpointSigningPayload (c: UnsignedAuditCheckpoint): Uint8Array {
  const { node, seq, headHash, ts } = c
  return domainSeparated(AUDIT_CHECKPOINT_DOMAIN, { node, seq, headHash, ts })
}

/** Hex sha2-256 of the entry's canonical encoding, signature included: the next entry's `prev`. */
export function auditEntryHash (e: AuditEntry): string {
  const { seq, ts, actor, action, subject, details, prev, node, sig } = e
  return createHash('sha256').update(encodeCanonical({ seq, ts, actor, action, subject, details, prev, node, sig })).digest('hex')
}

/** One export line: the entry's fields in a fixed order, no spaces. */
export function auditEntryLine (e: AuditEntry): string {
  return JSON.stringify(Object.fromEntries(ENTRY_FIELDS.map(k => [k, e[k]])))
}

/** Makes details plain JSON (no undefined, no bytes) and caps their size. */
export function auditDetails (details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (details == null) return {}
  const plain = JSON.parse(JSON.stringify(details, (_k, v) => v === undefined ? null : v)) as Record<string, unknown>
  const size = encodeCanonical(plain).length
  if (size <= AUDIT_DETAILS_MAX_BYTES) return plain
  return { truncated: true, bytes: size, keys: Object.keys(plain).slice(0, 32) }
}

/** Public keys by node peer id, parsed once per verifier rather than once per entry. */
export type AuditKeyCache = Map<string, KeyObject | null>

function keyOf (node: string, cache?: AuditKeyCache): KeyObject | null {
  const known = cache?.get(node)
  if (known !== undefined) return known
  let key: KeyObject | null = null
  try {
    const pid = peerIdFromString(node)
    if (pid.publicKey != null && pid.type === 'Ed25519') {
      key = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pid.publicKey.raw).toString('base64url') } })
    }
  } catch {
    key = null
  }
  if (cache != null && cache.size < 64) cache.set(node, key)
  return key
}

function verifySig (node: string, payload: Uint8Array, sig: string, cache?: AuditKeyCache): boolean {
  try {
    // one encoding per signature: base64url decoding ignores a last character's spare bits,
    // so without this a changed byte could leave the signature (and the entry) the same
    const bytes = Buffer.from(sig, 'base64url')
    if (bytes.length !== 64 || bytes.toString('base64url') !== sig) return false
    const key = keyOf(node, cache)
    return key != null && edVerify(null, payload, key, bytes)
  } catch {
    return false
  }
}

export function verifyAuditEntrySignature (e: AuditEntry, cache?: AuditKeyCache): boolean {
  return typeof e.sig === 'string' && verifySig(e.node, auditSigningPayload(e), e.sig, cache)
}

export function verifyCheckpointSignature (c: AuditCheckpoint): boolean {
  return typeof c.sig === 'string' && verifySig(c.node, checkpointSigningPayload(c), c.sig)
}

/** What is wrong with the first bad entry. Fixed set: `aas audit verify --json` reports it. */
export type AuditProblem =
  | 'malformed' // not an entry (unparseable, missing or mistyped fields, not canonical)
  | 'edited' // its signature does not cover what it says now
  | 'bad-signature' // signed by a key other than the log's node
  | 'deleted' // a seq is missing
  | 'reordered' // seqs out of order or repeated
  | 'broken-link' // prev is not the hash of the entry before
  | 'truncated' // the log ends before a checkpoint's seq
  | 'rewritten' // the entry at a checkpoint's seq has another hash

export interface AuditFault {
  /** seq of the bad entry (as far as it can be told), and its position in the input (1-based). */
  seq: number | null
  position: number
  problem: AuditProblem
  message: string
}

export interface AuditVerifyReport {
  ok: boolean
  node: string | null
  entries: number
  firstSeq: number | null
  lastSeq: number | null
  headHash: string | null
  checkpoint?: { seq: number, headHash: string, found: boolean }
  fault?: AuditFault
}

export function isAuditEntryShape (v: unknown): v is AuditEntry {
  if (v == null || typeof v !== 'object' || Array.isArray(v)) return false
  const e = v as Record<string, unknown>
  if (Object.keys(e).length !== ENTRY_FIELDS.length || !ENTRY_FIELDS.every(k => k in e)) return false
  return Number.isSafeInteger(e.seq) && (e.seq as number) >= 1 && Number.isSafeInteger(e.ts) &&
    typeof e.actor === 'string' && typeof e.action === 'string' && typeof e.subject === 'string' &&
    e.details != null && typeof e.details === 'object' && !Array.isArray(e.details) &&
    typeof e.prev === 'string' && /^[0-9a-f]{64}$/.test(e.prev) && typeof e.node === 'string' && typeof e.sig === 'string'
}

export interface AuditChainVerifierOptions {
  /** The node whose key must sign every entry (else: the first entry's). */
  node?: string
  /** Seq the log must start at; unset, the first entry sets it. */
  from?: number
  /** Seqs whose hashes to keep, for checking checkpoints. */
  keepHashesOf?: number[]
}

/**
 * Checks a run of entries as a verifier streams them: every entry well-formed and signed by
 * the log's one node key, seqs consecutive from `from`, each `prev` the hash of the entry
 * before. A log checked from 1 must start at the genesis, so losing its first entry shows;
 * one checked from a later seq (an export `--from SEQ`) takes its first `prev` on trust.
 * Stops at the first fault, and names the entry by its place in the chain: an entry whose
 * own seq was changed is still named by the seq it should have.
 */
export class AuditChainVerifier {
  private position = 0
  private lastSeq: number | null = null
  private firstSeq: number | null = null
  private lastHash: string | null = null
  private node: string | null = null
  /** Seq the next entry must have, once known. */
  private expect: number | null
  private readonly hashes = new Map<number, string>()
  private readonly keys: AuditKeyCache = new Map()
  /**
   * Well-signed entries jumped ahead from `missing` to `to`: entries were deleted there, or
   * moved. Told apart by what follows: one of the skipped seqs turning up later is a move.
   */
  private gap: { missing: number, to: number, position: number } | undefined
  /** A fault at the first entry, before any seq is known: the entry after it names it. */
  private unnamed: AuditFault | undefined
  fault: AuditFault | undefined

  constructor (private readonly opts: AuditChainVerifierOptions = {}) {
    this.node = opts.node ?? null
    this.expect = opts.from ?? null
  }

  /** Feeds one stored value (a line that does not parse, as some non-entry value) with the line it came from, if any. Returns false once a fault is found. */
  push (value: unknown, raw?: string): boolean {
    if (this.fault != null) return false
    this.position++
    if (this.unnamed != null) {
      this.fault = { ...this.unnamed, seq: isAuditEntryShape(value) ? value.seq - 1 : this.unnamed.seq }
      return false
    }
    if (!isAuditEntryShape(value)) return this.failHere(seqOf(value), 'malformed', 'not a well-formed audit entry')
    const e = value
    if (raw != null && raw !== auditEntryLine(e)) return this.failHere(e.seq, 'malformed', 'the line is not the canonical form of its entry (bytes changed)')
    if (this.node == null) this.node = e.node
    if (e.node !== this.node) return this.failHere(e.seq, 'bad-signature', `signed as node ${e.node}, the log is node ${this.node}`)
    if (!verifyAuditEntrySignature(e, this.keys)) return this.failHere(e.seq, 'edited', 'its signature does not verify (changed after it was signed, or forged)')
    const expect = this.expect ?? e.seq
    if (e.seq < expect) {
      // backwards: with entries skipped before, the first skipped one is the one out of place
      const g = this.gap
      if (g != null) return this.fail(g.missing, 'reordered', e.seq === g.missing ? `entry ${g.missing} comes after entry ${this.lastSeq ?? g.to}` : `entry ${g.to} stands where entry ${g.missing} should: entries are out of order`, g.position)
      return this.fail(e.seq, 'reordered', this.lastSeq != null ? `entry ${e.seq} comes after entry ${this.lastSeq}` : `the log starts at entry ${e.seq}, before entry ${expect}`)
    }
    if (e.seq > expect) {
      if (this.gap != null) return this.failGap()
      this.gap = { missing: expect, to: e.seq, position: this.position }
    } else if (expect === 1 && e.prev !== AUDIT_GENESIS) {
      return this.failHere(1, 'broken-link', 'the first entry does not start the chain')
    } else if (this.lastHash != null && e.prev !== this.lastHash) {
      return this.failHere(e.seq, 'broken-link', `prev is not the hash of entry ${this.lastSeq ?? '?'}`)
    }
    this.advance(e)
    return true
  }

  private advance (e: AuditEntry): void {
    const hash = auditEntryHash(e)
    if (this.opts.keepHashesOf?.includes(e.seq) === true) this.hashes.set(e.seq, hash)
    this.firstSeq ??= e.seq
    this.lastSeq = e.seq
    this.lastHash = hash
    this.expect = e.seq + 1
  }

  hashAt (seq: number): string | undefined {
    return this.hashes.get(seq)
  }

  /** The verdict; with a checkpoint, also that the log still holds its entry with its hash. */
  report (checkpoint?: AuditCheckpoint): AuditVerifyReport {
    if (this.fault == null && this.unnamed != null) this.fault = this.unnamed
    if (this.fault == null && this.gap != null) this.failGap()
    const base: AuditVerifyReport = {
      ok: this.fault == null,
      node: this.node,
      entries: this.position,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      headHash: this.lastHash
    }
    if (this.fault != null) return { ...base, fault: this.fault }
    if (checkpoint == null) return base
    const cp = { seq: checkpoint.seq, headHash: checkpoint.headHash, found: false }
    const at = this.hashes.get(checkpoint.seq)
    let fault: AuditFault | undefined
    if (!verifyCheckpointSignature(checkpoint)) {
      fault = { seq: checkpoint.seq, position: 0, problem: 'bad-signature', message: 'the checkpoint\'s signature does not verify' }
    } else if (this.node != null && checkpoint.node !== this.node) {
      fault = { seq: checkpoint.seq, position: 0, problem: 'bad-signature', message: `the checkpoint is node ${checkpoint.node}'s, the log is node ${this.node}'s` }
    } else if (this.lastSeq == null || checkpoint.seq > this.lastSeq) {
      fault = { seq: checkpoint.seq, position: this.position, problem: 'truncated', message: `the log ends at entry ${this.lastSeq ?? 0}, before the checkpoint's entry ${checkpoint.seq}: its tail was cut` }
    } else if (at == null && this.firstSeq != null && checkpoint.seq < this.firstSeq) {
      fault = { seq: checkpoint.seq, position: 0, problem: 'truncated', message: `the log starts at entry ${this.firstSeq}, after the checkpoint's entry ${checkpoint.seq}` }
    } else if (at !== checkpoint.headHash) {
      fault = { seq: checkpoint.seq, position: 0, problem: 'rewritten', message: `entry ${checkpoint.seq} does not have the hash the checkpoint signed: the log was rewritten from there` }
    } else {
      cp.found = true
    }
    return fault == null ? { ...base, checkpoint: cp } : { ...base, ok: false, checkpoint: cp, fault }
  }

  private fail (seq: number | null, problem: AuditProblem, message: string, position = this.position): false {
    this.fault = { seq, position, problem, message }
    return false
  }

  /** Entries skipped and none of them turned up: they were deleted. */
  private failGap (): false {
    const { missing, to, position } = this.gap!
    return this.fail(missing, 'deleted', to - missing > 1 ? `entries ${missing} to ${to - 1} are missing` : `entry ${missing} is missing`, position)
  }

  /**
   * A fault in the entry just fed. It is named by the seq it should have (its own may be what
   * was changed); at the very first entry that is not known yet, so the next entry names it.
   * Entries skipped before it are the earlier fault.
   */
  private failHere (own: number | null, problem: AuditProblem, message: string): boolean {
    if (this.gap != null) return this.failGap()
    const f: AuditFault = { seq: this.expect ?? own, position: this.position, problem, message }
    if (this.expect == null) { this.unnamed = f; return true }
    this.fault = f
    return false
  }
}

function seqOf (v: unknown): number | null {
  const s = (v as { seq?: unknown } | null)?.seq
  return Number.isSafeInteger(s) ? s as number : null
}
