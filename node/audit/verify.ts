import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import {
  AuditChainVerifier, auditEntryLine, verifyCheckpointSignature,
  type AuditCheckpoint, type AuditEntry, type AuditVerifyReport
} from '../../protocol/index.js'
import type { Db } from '../store/index.js'
import { AuditError, AuditErrorCode } from './errors.js'
import { iterateEntries } from './log.js'

/**
 * `aas audit verify`: the same chain check over a data dir's LevelDB or an exported file. What it
 * proves alone: every entry is as its node signed it, none is missing, added or moved between
 * the first and the last. What only a checkpoint kept elsewhere proves: that nothing was cut
 * from the end or rewritten from some entry on (the node's key could sign a new tail).
 */
export interface VerifyOptions {
  checkpoint?: AuditCheckpoint
  /** The node the log must belong to (a data dir's own identity). */
  node?: string
  /** Seq the log starts at [default: 1, the whole log]; a later one for an export `--from SEQ`. */
  from?: number
}

export async function verifyAuditEntries (entries: AsyncIterable<{ value: unknown, raw?: string }>, o: VerifyOptions = {}): Promise<AuditVerifyReport> {
  const v = new AuditChainVerifier({ node: o.node, from: o.from ?? 1, keepHashesOf: o.checkpoint != null ? [o.checkpoint.seq] : [] })
  for await (const { value, raw } of entries) if (!v.push(value, raw)) break
  return v.report(o.checkpoint)
}

export async function verifyAuditDb (db: Db, o: VerifyOptions = {}): Promise<AuditVerifyReport> {
  return await verifyAuditEntries((async function * () {
    for await (const value of iterateEntries(db)) yield { value }
  })(), o)
}

export async function verifyAuditFile (path: string, o: VerifyOptions = {}): Promise<AuditVerifyReport> {
  const lines = await openLines(path)
  return await verifyAuditEntries((async function * () {
    for await (const raw of lines) {
      if (raw === '') continue
      let value: unknown
      try { value = JSON.parse(raw) } catch { value = { unparseable: true, seq: Number(/"seq":(\d+)/.exec(raw)?.[1] ?? NaN) } }
      yield { value, raw }
    }
  })(), o)
}

async function openLines (path: string): Promise<AsyncIterable<string>> {
  const stream = createReadStream(path, { encoding: 'utf8' })
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => { resolve() })
    stream.once('error', (err) => { reject(new AuditError(`cannot read ${path}: ${err.message}`, AuditErrorCode.UNREADABLE, { cause: err })) })
  })
  return createInterface({ input: stream, crlfDelay: Infinity })
}

/** Reads a checkpoint file (`aas audit checkpoint --out F`, or one kept by a witness). */
export async function readCheckpointFile (path: string): Promise<AuditCheckpoint> {
  let value: any
  try {
    value = JSON.parse(await readFile(path, 'utf8'))
  } catch (err: any) {
    throw new AuditError(`cannot read the checkpoint ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, AuditErrorCode.UNREADABLE, { cause: err })
  }
  const ok = value != null && typeof value.node === 'string' && Number.isSafeInteger(value.seq) && typeof value.headHash === 'string' &&
    Number.isSafeInteger(value.ts) && typeof value.sig === 'string'
  if (!ok) throw new AuditError(`${path} is not an audit checkpoint {node, seq, headHash, ts, sig}`, AuditErrorCode.UNREADABLE)
  const cp: AuditCheckpoint = { node: value.node, seq: value.seq, headHash: value.headHash, ts: value.ts, sig: value.sig }
  if (!verifyCheckpointSignature(cp)) throw new AuditError(`the checkpoint in ${path} is not validly signed by node ${cp.node}`, AuditErrorCode.INVALID)
  return cp
}

/** The export format: one entry a line, each line verifiable on its own chain. */
export function exportLines (entries: AuditEntry[]): string {
  return entries.map(e => auditEntryLine(e) + '\n').join('')
}

/** One line for a person: which entry, and what is wrong with it. */
export function describeFault (r: AuditVerifyReport): string {
  const f = r.fault
  if (f == null) return `audit log of ${r.node ?? 'no node'} is whole: ${r.entries} entries${r.firstSeq != null ? ` (${r.firstSeq}..${r.lastSeq ?? ''})` : ''}${r.checkpoint?.found === true ? `, checkpoint at ${r.checkpoint.seq} holds` : ''}`
  const where = f.seq != null ? `entry ${f.seq}` : 'an entry'
  return `${where}${f.position > 0 ? ` (item ${f.position})` : ''} is ${f.problem}: ${f.message}`
}
