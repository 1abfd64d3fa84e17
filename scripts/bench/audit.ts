import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import { AuditLog, verifyAuditDb } from '../../node/audit/index.js'
import { Bucket, NodeStore, type StoreOp } from '../../node/store/index.js'
import { Signer } from '../../node/signer.js'
import { decodeCanonical } from '../../protocol/index.js'
import { measure } from './measure.js'
import type { Benchmark, BenchResult } from './types.js'

/**
 * What the audit trail costs. A task state change is one LevelDB batch; with the audit trail it
 * carries its signed, hash-chained entries too. Subject: N changes of a ~1 KiB task record, each
 * with two audit entries (as an acceptance writes); baseline: the same N batches without the
 * entries. Unsynced and synced (acceptance and ends are synced). And verifying a log against
 * only reading and decoding it.
 */
const CHANGES = 100

const bench: Benchmark = {
  name: 'audit',
  description: `${CHANGES} task state changes with their audit entries vs without (unsynced, synced); verify vs read`,
  async run (ctx) {
    const dir = await mkdtemp(join(tmpdir(), 'aas-bench-audit-'))
    const store = new NodeStore(dir)
    await store.open()
    try {
      const signer = new Signer(await generateKeyPair('Ed25519'))
      const audit = new AuditLog({ store, signer, metrics: null, log: pino({ level: 'silent' }) }, { checkpointEvery: 1_000_000 })
      await audit.open()
      const record = randomBytes(1024)
      let n = 0
      const op = (): StoreOp => ({ type: 'put', bucket: Bucket.tasks, key: `t!${n++}`, value: record })
      const results: BenchResult[] = []
      for (const sync of [false, true]) {
        ctx.log(`audit: ${CHANGES} changes per round, ${sync ? 'synced' : 'unsynced'}`)
        const withAudit = await measure(ctx, async () => {
          await Promise.all(Array.from({ length: CHANGES }, async (_, i) => await audit.write([
            { action: 'task.accepted', subject: `task-${i}`, details: { attempt: 1 } },
            { action: 'task.offered', subject: `task-${i}`, details: { attempt: 1 } }
          ], [op()], { sync })))
        })
        const without = await measure(ctx, async () => {
          await Promise.all(Array.from({ length: CHANGES }, async () => { await store.write([op()], { sync }) }))
        })
        results.push({ name: `audit-append-${sync ? 'sync' : 'nosync'}`, unit: `ms/${CHANGES} changes`, samples: withAudit, baseline: without, extra: { entriesPerChange: 2 } })
      }
      ctx.log(`audit: verifying ${audit.headSeq} entries`)
      const db = store.sublevel(Bucket.audit)
      const verify = await measure({ ...ctx, warmup: 1, rounds: Math.min(ctx.rounds, 5) }, async () => {
        const r = await verifyAuditDb(db, { node: signer.peerId })
        if (!r.ok) throw new Error(`the benchmark's own log does not verify: ${r.fault?.problem ?? ''}`)
      })
      const read = await measure({ ...ctx, warmup: 1, rounds: Math.min(ctx.rounds, 5) }, async () => {
        for await (const [, v] of db.iterator({ gte: 'e!', lt: 'e!\xff' })) decodeCanonical(v)
      })
      results.push({ name: 'audit-verify', unit: 'ms', samples: verify, baseline: read, extra: { entries: audit.headSeq } })
      return results
    } finally {
      await store.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export default bench
