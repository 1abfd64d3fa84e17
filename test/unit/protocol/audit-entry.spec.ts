import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  AUDIT_GENESIS, AuditChainVerifier, auditEntryHash, auditEntryLine, auditSigningPayload, checkpointSigningPayload,
  type AuditCheckpoint, type AuditEntry, type AuditProblem, type AuditVerifyReport, type UnsignedAuditEntry
} from '../../../protocol/index.js'

/**
 * The audit chain verifier alone (pure): entries built and signed here with a generated key,
 * then damaged one way at a time. Each fault must be found, with its fixed `problem` and the
 * seq of the entry it concerns.
 */
interface Node { key: PrivateKey, id: string }

async function newNode (): Promise<Node> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')

async function sign (n: Node, u: UnsignedAuditEntry): Promise<AuditEntry> {
  return { ...u, sig: b64(await n.key.sign(auditSigningPayload(u))) }
}

/** Entries `from`..`from + count - 1` chained onto `prev`. */
async function chain (n: Node, count: number, from = 1, prev = AUDIT_GENESIS, tag = 'a'): Promise<AuditEntry[]> {
  const out: AuditEntry[] = []
  for (let seq = from; seq < from + count; seq++) {
    const e = await sign(n, { seq, ts: 1_700_000_000_000 + seq, actor: n.id, action: 'task.accepted', subject: `task-${tag}${seq}`, details: { n: seq }, prev, node: n.id })
    out.push(e)
    prev = auditEntryHash(e)
  }
  return out
}

async function checkpointOf (n: Node, e: AuditEntry): Promise<AuditCheckpoint> {
  const u = { node: n.id, seq: e.seq, headHash: auditEntryHash(e), ts: e.ts + 1 }
  return { ...u, sig: b64(await n.key.sign(checkpointSigningPayload(u))) }
}

/** Feeds values (and their lines, as a file would) and returns the report. */
function verify (values: unknown[], opts: { from?: number, node?: string, checkpoint?: AuditCheckpoint, lines?: string[] } = {}): AuditVerifyReport {
  const v = new AuditChainVerifier({ node: opts.node, from: opts.from ?? 1, keepHashesOf: opts.checkpoint != null ? [opts.checkpoint.seq] : [] })
  values.forEach((value, i) => v.push(value, opts.lines?.[i]))
  return v.report(opts.checkpoint)
}

function expectFault (r: AuditVerifyReport, problem: AuditProblem, seq: number | null, position?: number): void {
  expect(r.ok, JSON.stringify(r)).to.equal(false)
  expect(r.fault?.problem, r.fault?.message).to.equal(problem)
  expect(r.fault?.seq, r.fault?.message).to.equal(seq)
  if (position != null) expect(r.fault?.position).to.equal(position)
}

function swap<T> (a: T[], i: number, j: number): T[] {
  const b = a.slice();
  [b[i], b[j]] = [b[j], b[i]]
  return b
}

describe('protocol: audit entry chain verifier', () => {
  let n: Node
  let log: AuditEntry[]
  before(async () => {
    n = await newNode()
    log = await chain(n, 8)
  })

  it('accepts a whole chain and reports its span and head', () => {
    const r = verify(log, { lines: log.map(auditEntryLine) })
    expect(r).to.deep.equal({ ok: true, node: n.id, entries: 8, firstSeq: 1, lastSeq: 8, headHash: auditEntryHash(log[7]) })
  })

  it('finds malformed values and lines, naming the entry by its place', () => {
    expectFault(verify([log[0], 'not an entry', log[2]]), 'malformed', 2, 2)
    const { subject: _s, ...missing } = log[2]
    expectFault(verify([log[0], log[1], missing]), 'malformed', 3)
    expectFault(verify([log[0], log[1], { ...log[2], extra: 1 }]), 'malformed', 3)
    expectFault(verify([log[0], { ...log[1], seq: '2' }]), 'malformed', 2)
    expectFault(verify([log[0], { ...log[1], prev: log[1].prev.toUpperCase() }]), 'malformed', 2)
    // the same entry written with other bytes (spaces): the line must be its canonical form
    const lines = log.slice(0, 3).map(auditEntryLine)
    lines[1] = lines[1].replace(':', ': ')
    expectFault(verify(log.slice(0, 3), { lines }), 'malformed', 2, 2)
  })

  it('finds an edited entry, also when the field edited is its seq', () => {
    expectFault(verify([log[0], log[1], { ...log[2], subject: 'task-other' }, log[3]]), 'edited', 3, 3)
    expectFault(verify([log[0], log[1], { ...log[2], details: { n: 4 } }, log[3]]), 'edited', 3)
    expectFault(verify([log[0], log[1], { ...log[2], seq: 9 }, log[3]]), 'edited', 3)
    expectFault(verify([log[0], { ...log[1], seq: 1 }, log[2]]), 'edited', 2)
    // a signature's last character carries spare bits: another character decoding to the
    // same bytes is still a changed entry
    const sig = log[4].sig
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const twin = sig.slice(0, -1) + alphabet[alphabet.indexOf(sig.at(-1)!) ^ 1]
    expect(Buffer.from(twin, 'base64url')).to.deep.equal(Buffer.from(sig, 'base64url'))
    expectFault(verify([...log.slice(0, 4), { ...log[4], sig: twin }, ...log.slice(5)]), 'edited', 5)
  })

  it('names a damaged first entry by the one after it when no start is given', () => {
    const v = new AuditChainVerifier({})
    v.push({ ...log[0], seq: 7 })
    v.push(log[1])
    expectFault(v.report(), 'edited', 1, 1)
    const w = new AuditChainVerifier({})
    w.push('garbage')
    expectFault(w.report(), 'malformed', null, 1)
  })

  it('refuses an entry signed by another key, and a log that is not the expected node\'s', async () => {
    const other = await newNode()
    const forged = await sign(other, { ...log[3], node: other.id })
    expectFault(verify([...log.slice(0, 3), forged, ...log.slice(4)]), 'bad-signature', 4, 4)
    expectFault(verify(log, { node: other.id }), 'bad-signature', 1, 1)
    // the node field kept, the signature made by another key
    const impostor = { ...log[3], sig: b64(await other.key.sign(auditSigningPayload(log[3]))) }
    expectFault(verify([...log.slice(0, 3), impostor]), 'edited', 4)
  })

  it('finds a deleted entry anywhere but the end: first, middle, several', () => {
    for (let i = 0; i < 7; i++) expectFault(verify(log.filter((_, j) => j !== i)), 'deleted', i + 1, i + 1)
    const r = verify([log[0], log[1], ...log.slice(4)])
    expectFault(r, 'deleted', 3, 3)
    expect(r.fault?.message).to.equal('entries 3 to 4 are missing')
  })

  it('finds reordered entries: two swapped (next to each other or not), one moved, one repeated', () => {
    for (let i = 0; i < 8; i++) {
      for (let j = i + 1; j < 8; j++) expectFault(verify(swap(log, i, j)), 'reordered', i + 1, i + 1)
    }
    const moved = verify([log[0], ...log.slice(2), log[1]])
    expectFault(moved, 'reordered', 2)
    expect(moved.fault?.message).to.equal('entry 2 comes after entry 8')
    expectFault(verify([...log.slice(0, 4), log[3], ...log.slice(4)]), 'reordered', 4, 5)
  })

  it('finds a broken link: an entry re-signed onto the wrong predecessor, a first entry off the genesis', async () => {
    const relinked = await sign(n, { ...log[4], prev: auditEntryHash(log[2]) })
    expectFault(verify([...log.slice(0, 4), relinked, ...log.slice(5)]), 'broken-link', 5, 5)
    const first = await sign(n, { ...log[0], prev: 'ab'.repeat(32) })
    expectFault(verify([first, ...log.slice(1)]), 'broken-link', 1, 1)
  })

  it('checks a partial export from its own start, and a whole log from 1', () => {
    expect(verify(log.slice(3), { from: 4 }).ok).to.equal(true)
    const r = verify(log.slice(3), { from: 1 })
    expectFault(r, 'deleted', 1, 1)
    expect(r.fault?.message).to.equal('entries 1 to 3 are missing')
    expectFault(verify(log.slice(1), { from: 3 }), 'reordered', 2, 1)
  })

  it('with a checkpoint: finds a cut tail and a rewritten one, which the chain alone cannot', async () => {
    const cp = await checkpointOf(n, log[5])
    const held = verify(log, { checkpoint: cp })
    expect(held.ok).to.equal(true)
    expect(held.checkpoint).to.deep.equal({ seq: 6, headHash: cp.headHash, found: true })
    // cut after the checkpoint's entry: it still holds; cut before it: truncated
    expect(verify(log.slice(0, 6), { checkpoint: cp }).ok).to.equal(true)
    for (const keep of [0, 3, 5]) {
      expect(verify(log.slice(0, keep)).ok).to.equal(true)
      expectFault(verify(log.slice(0, keep), { checkpoint: cp }), 'truncated', 6)
    }
    // the node's key signs a new tail from entry 4 on: a valid chain, but not the one checkpointed
    const rewritten = [...log.slice(0, 3), ...await chain(n, 5, 4, auditEntryHash(log[2]), 'b')]
    expect(verify(rewritten).ok).to.equal(true)
    expectFault(verify(rewritten, { checkpoint: cp }), 'rewritten', 6)
    // a partial export that starts after the checkpoint's entry cannot show it
    expectFault(verify(log.slice(6), { from: 7, checkpoint: cp }), 'truncated', 6)
  })

  it('refuses a checkpoint that is forged or another node\'s', async () => {
    const cp = await checkpointOf(n, log[5])
    expectFault(verify(log, { checkpoint: { ...cp, seq: 5 } }), 'bad-signature', 5)
    const other = await newNode()
    const theirs = await checkpointOf(other, log[5])
    expectFault(verify(log, { checkpoint: { ...theirs, node: other.id } }), 'bad-signature', 6)
  })
})
