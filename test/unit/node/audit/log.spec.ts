import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  AUDIT_GENESIS, auditEntryHash, decodeCanonical, verifyCheckpointSignature, type AuditCheckpoint, type AuditEntry
} from '../../../../protocol/index.js'
import { AuditError, AuditErrorCode, AuditLog, CHECKPOINT_KEY, RejectAuditor, verifyAuditDb, type AuditRecord } from '../../../../node/audit/index.js'
import { Bucket, NodeStore } from '../../../../node/store/index.js'
import { Signer } from '../../../../node/signer.js'
import { createLogger } from '../../../../node/log.js'
import { tempDir, waitFor } from '../../../utils/cli-node.js'

/**
 * The node's audit log over a real LevelDB in a temp dir: the chain it writes, seq order under
 * concurrent writes, entries in the same batch as the change they record, checkpoints; and
 * the RejectAuditor's one entry per sender and window, with an injected clock.
 */
describe('node/audit: log', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let store: NodeStore
  let signer: Signer
  const log = createLogger('silent')

  beforeEach(async () => {
    dir = await tempDir('aas-audit-')
    store = new NodeStore(dir.path)
    await store.open()
    signer = new Signer(await generateKeyPair('Ed25519'))
  })
  afterEach(async () => {
    await store.close()
    await dir.remove()
  })

  const record = (i: number): AuditRecord => ({ action: 'task.accepted', subject: `task-${i}`, details: { i } })

  async function openLog (opts: ConstructorParameters<typeof AuditLog>[1] = {}, now?: () => number): Promise<AuditLog> {
    const a = new AuditLog({ store, signer, metrics: null, log, now }, opts)
    await a.open()
    return a
  }

  it('chains signed entries from the genesis, and a reopened log goes on where it was', async () => {
    let t = 1000
    const a = await openLog({}, () => t++)
    for (let i = 1; i <= 3; i++) await a.append(record(i))
    const entries = await a.read()
    expect(entries.map(e => e.seq)).to.deep.equal([1, 2, 3])
    expect(entries[0].prev).to.equal(AUDIT_GENESIS)
    expect(entries[1].prev).to.equal(auditEntryHash(entries[0]))
    expect(entries.map(e => e.ts)).to.deep.equal([1000, 1001, 1002])
    expect(entries.every(e => e.node === signer.peerId && e.actor === signer.peerId)).to.equal(true)
    expect(a.headSeq).to.equal(3)
    expect(a.headHash).to.equal(auditEntryHash(entries[2]))

    const b = await openLog()
    expect(b.headSeq).to.equal(3)
    const [fourth] = await b.write([{ action: 'bundle.refused', subject: 'bafy…', actor: 'peer-x' }])
    expect(fourth.seq).to.equal(4)
    expect(fourth.actor).to.equal('peer-x')
    expect(fourth.prev).to.equal(auditEntryHash(entries[2]))
    expect(await verifyAuditDb(store.sublevel(Bucket.audit), { node: signer.peerId })).to.include({ ok: true, entries: 4, lastSeq: 4 })
  })

  it('keeps seq order on disk under concurrent writes, each subscriber seeing every entry once, in order', async () => {
    const a = await openLog()
    const seen: number[] = []
    const stop = a.subscribe(e => { seen.push(e.seq) })
    const written = await Promise.all(Array.from({ length: 200 }, async (_, i) => i % 3 === 0
      ? await a.write([record(i), record(i + 1000)])
      : [await a.append(record(i))]))
    stop()
    const seqs = written.flat().map(e => e.seq).sort((x, y) => x - y)
    expect(seqs).to.deep.equal(Array.from({ length: seqs.length }, (_, i) => i + 1))
    expect(seen).to.deep.equal(seqs)
    const report = await verifyAuditDb(store.sublevel(Bucket.audit), { node: signer.peerId })
    expect(report).to.include({ ok: true, entries: seqs.length, firstSeq: 1, lastSeq: seqs.length })
    expect(a.headSeq).to.equal(seqs.length)
  })

  it('writes entries in the same batch as the change they record; a failed batch writes neither and stops the log', async () => {
    const a = await openLog()
    const tasks = store.sublevel(Bucket.tasks)
    await a.write([record(1)], [{ type: 'put', bucket: Bucket.tasks, key: 't1', value: new Uint8Array([1]) }])
    expect(await tasks.get('t1')).to.deep.equal(new Uint8Array([1]))
    expect((await a.read()).map(e => e.subject)).to.deep.equal(['task-1'])

    // a store whose next batch fails, as a full disk would
    let fail = true
    const flaky = {
      sublevel: store.sublevel.bind(store),
      write: async (...args: Parameters<NodeStore['write']>) => {
        if (fail) { fail = false; throw new Error('disk full') }
        await store.write(...args)
      }
    }
    const b = new AuditLog({ store: flaky, signer, metrics: null, log })
    await b.open()
    const err = await b.write([record(2)], [{ type: 'put', bucket: Bucket.tasks, key: 't2', value: new Uint8Array([2]) }]).catch(e => e)
    expect(err).to.be.instanceOf(AuditError)
    expect(err.code).to.equal(AuditErrorCode.WRITE_FAILED)
    expect(await tasks.get('t2')).to.equal(undefined)
    // later entries would chain onto the lost one: the log takes no more
    const again = await b.append(record(3)).catch(e => e)
    expect(again.code).to.equal(AuditErrorCode.WRITE_FAILED)
    expect((await b.read()).map(e => e.seq)).to.deep.equal([1])
    expect((await verifyAuditDb(store.sublevel(Bucket.audit))).ok).to.equal(true)
  })

  it('signs checkpoints of what is on disk: on demand, every N entries, and at stop', async () => {
    const a = await openLog({ checkpointEvery: 5, checkpointIntervalMs: 3_600_000 })
    expect(a.latestCheckpoint()).to.equal(undefined)
    await a.append(record(1))
    await a.append(record(2))
    const cp = await a.checkpoint()
    expect(cp).to.include({ node: signer.peerId, seq: 2, headHash: a.headHash })
    expect(verifyCheckpointSignature(cp)).to.equal(true)
    expect(verifyCheckpointSignature({ ...cp, seq: 1 })).to.equal(false)
    const stored = decodeCanonical((await store.sublevel(Bucket.audit).get(CHECKPOINT_KEY))!) as AuditCheckpoint
    expect(stored).to.deep.equal(cp)

    for (let i = 3; i <= 7; i++) await a.append(record(i))
    const auto = await waitFor(() => { const c = a.latestCheckpoint(); return c != null && c.seq >= 7 ? c : undefined }, 'a checkpoint after 5 new entries')
    expect(auto.seq).to.equal(7)

    await a.append(record(8))
    await a.stop()
    expect(a.latestCheckpoint()?.seq).to.equal(8)
    const reopened = await openLog()
    expect(reopened.latestCheckpoint()).to.deep.equal(a.latestCheckpoint())
    const entries = await reopened.read()
    expect(reopened.latestCheckpoint()?.headHash).to.equal(auditEntryHash(entries[7]))
  })

  it('reads a page from a seq', async () => {
    const a = await openLog()
    for (let i = 1; i <= 12; i++) await a.append(record(i))
    expect((await a.read(5, 3)).map(e => e.seq)).to.deep.equal([5, 6, 7])
    expect((await a.read(11)).map(e => e.seq)).to.deep.equal([11, 12])
    expect(await a.read(13)).to.deep.equal([])
  })
})

describe('node/audit: RejectAuditor', () => {
  function harness (opts: { windowMs?: number, maxSenders?: number } = {}): { r: RejectAuditor, written: AuditRecord[], clock: { t: number } } {
    const written: AuditRecord[] = []
    const clock = { t: 1_000_000 }
    const audit = { append: async (rec: AuditRecord): Promise<AuditEntry> => { written.push(rec); return {} as AuditEntry } }
    const r = new RejectAuditor({ audit, now: () => clock.t }, { windowMs: 60_000, ...opts })
    return { r, written, clock }
  }

  it('writes one entry per sender and window at once, and the rest as one summary when the window ends', () => {
    const { r, written, clock } = harness()
    for (let i = 0; i < 50; i++) r.note('peer-a', i % 2 === 0 ? 'signature' : 'stale', '/aas/tasks')
    r.note('peer-b', 'schema', '/aas/skills')
    expect(written).to.deep.equal([
      { action: 'message.rejected', subject: 'peer-a', actor: 'peer-a', details: { reason: 'signature', channel: '/aas/tasks', count: 1 } },
      { action: 'message.rejected', subject: 'peer-b', actor: 'peer-b', details: { reason: 'schema', channel: '/aas/skills', count: 1 } }
    ])
    clock.t += 59_999
    r.sweep()
    expect(written).to.have.length(2)
    clock.t += 1
    r.sweep()
    expect(written).to.have.length(3)
    expect(written[2]).to.deep.equal({
      action: 'message.rejected', subject: 'peer-a', actor: 'peer-a',
      details: { summary: true, windowStart: 1_000_000, counts: { signature: 24, stale: 25 }, count: 49 }
    })
    // peer-b sent only one: no summary; a new window starts with an entry of its own
    r.note('peer-a', 'replay', '/aas/tasks')
    expect(written).to.have.length(4)
    expect(written[3].details).to.deep.equal({ reason: 'replay', channel: '/aas/tasks', count: 1 })
  })

  it('ends a window on the sender\'s next refusal after it, and every window at stop', () => {
    const { r, written, clock } = harness()
    r.note('peer-a', 'stale', 't')
    r.note('peer-a', 'stale', 't')
    clock.t += 60_000
    r.note('peer-a', 'future', 't')
    expect(written.map(w => w.details?.summary === true ? `summary ${String(w.details.count)}` : String(w.details?.reason))).to.deep.equal(['stale', 'summary 1', 'future'])
    r.note('peer-a', 'future', 't')
    r.stop()
    expect(written).to.have.length(4)
    expect(written[3].details).to.include({ summary: true, count: 1 })
  })

  it('keeps a bounded table of senders: past it, refusals count under "*"', () => {
    const { r, written } = harness({ maxSenders: 3 })
    for (let i = 0; i < 10; i++) r.note(`peer-${i}`, 'malformed', 't')
    expect(written.map(w => w.subject)).to.deep.equal(['peer-0', 'peer-1', 'peer-2', '*'])
    r.stop()
    expect(written.at(-1)).to.deep.include({ subject: '*', details: { summary: true, windowStart: 1_000_000, counts: { malformed: 6 }, count: 6 } })
  })
})
