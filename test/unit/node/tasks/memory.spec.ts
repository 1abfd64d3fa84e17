import { expect } from 'chai'
import { Bucket } from '../../../../node/store/index.js'
import { MemoryEngine, inputFingerprint, type OutcomeRecord } from '../../../../node/tasks/index.js'
import { Clock, Disk } from '../../../utils/task-rig.js'

/**
 * The MemoryEngine on a real LevelDB: outcomes per release × input × executor, within its
 * bounds — a count (least recently updated evicted first, in batches) and an age — under
 * 100k recorded outcomes, across a restart.
 */
const release = { name: 'word-count', version: '1.2.0', cid: 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' }
const DAY = 86_400_000

describe('node/tasks: MemoryEngine', function () {
  let clock: Clock
  let disk: Disk

  beforeEach(async () => { clock = new Clock(); disk = await Disk.open(clock, 'aas-memory-') })
  afterEach(async () => { await disk.destroy() })

  const outcome = (i: number, status = 'succeeded', executor = 'exec-a'): OutcomeRecord => ({ skill: release, input: { text: `input ${i}` }, executor, status, durationMs: 10 + (i % 7), attempts: 1 })

  async function stored (): Promise<number> {
    let n = 0
    for await (const _k of disk.store.sublevel(Bucket.memory).keys({ gte: 'o!', lt: 'o!\xff' })) n++
    return n
  }

  it('keeps per release, input and executor: successes, failures, the last status, duration and attempts', async () => {
    const m = new MemoryEngine(disk.store.sublevel(Bucket.memory), clock.fn)
    await m.record(outcome(1))
    await m.record({ ...outcome(1, 'failed'), attempts: 3, durationMs: 40 })
    await m.record(outcome(1, 'succeeded', 'exec-b'))
    const a = m.outcomes(release.cid, { text: 'input 1' }).find(o => o.executor === 'exec-a')
    expect(a).to.deep.include({ name: 'word-count', version: '1.2.0', input: inputFingerprint({ text: 'input 1' }), successes: 1, failures: 1, lastStatus: 'failed', lastAttempts: 3, lastMs: 40, totalMs: 51 })
    expect(m.outcome(release.cid, { text: 'input 1' })).to.deep.include({ successes: 2, failures: 1 })
    expect(m.summary()).to.deep.equal([{ skill: release.cid, name: 'word-count', version: '1.2.0', successes: 2, failures: 1, inputs: 1, executors: 2, meanMs: Math.round((11 + 40 + 11) / 3) }])
    expect(m.summary('other-skill')).to.deep.equal([])
  })

  it('stays within maxOutcomes under 100k recorded outcomes, evicting the least recently updated, on disk too', async function () {
    const m = new MemoryEngine(disk.store.sublevel(Bucket.memory), clock.fn, { maxOutcomes: 1000, maxAgeDays: 30 })
    let peak = 0
    // records come in as results do: many at once, each resolving when its batch is written
    for (let chunk = 0; chunk < 100; chunk++) {
      await Promise.all(Array.from({ length: 1000 }, async (_x, j) => {
        const i = chunk * 1000 + j
        // input 0 is seen again and again: it stays, however old its first outcome is
        await m.record(i % 50 === 0 ? outcome(0) : outcome(i))
        peak = Math.max(peak, m.size)
      }))
      clock.advance(1000)
    }
    expect(peak).to.be.at.most(1000)
    expect(m.size).to.be.within(900, 1000)
    expect(await stored()).to.equal(m.size)
    expect(m.evicted).to.equal(100_000 - 100_000 / 50 + 1 - m.size)
    expect(m.outcome(release.cid, { text: 'input 0' })?.successes).to.equal(2000)
    expect(m.outcome(release.cid, { text: 'input 1' }), 'evicted long ago').to.equal(undefined)
    expect(m.outcome(release.cid, { text: 'input 99999' })?.successes).to.equal(1)

    // a restart reads what is kept, in the same order
    const again = new MemoryEngine(disk.store.sublevel(Bucket.memory), clock.fn, { maxOutcomes: 1000, maxAgeDays: 30 })
    await again.load()
    expect(again.size).to.equal(m.size)
    expect(again.summary()).to.deep.equal(m.summary())
  })

  it('evicts outcomes older than maxAgeDays, and applies lower bounds at load', async () => {
    const m = new MemoryEngine(disk.store.sublevel(Bucket.memory), clock.fn, { maxOutcomes: 1000, maxAgeDays: 2 })
    for (let i = 0; i < 10; i++) await m.record(outcome(i))
    clock.advance(DAY)
    for (let i = 10; i < 20; i++) await m.record(outcome(i))
    clock.advance(DAY + 1)
    await m.record(outcome(20))
    expect(m.size).to.equal(11)
    expect(await stored()).to.equal(11)
    const smaller = new MemoryEngine(disk.store.sublevel(Bucket.memory), clock.fn, { maxOutcomes: 100, maxAgeDays: 1 })
    await smaller.load()
    expect(smaller.size).to.equal(1)
    expect(await stored()).to.equal(1)
    expect(smaller.outcome(release.cid, { text: 'input 20' })?.successes).to.equal(1)
  })
})
