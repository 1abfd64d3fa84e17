import { expect } from 'chai'
import type { TaskClaimBody } from '../../../../protocol/index.js'
import { Bucket } from '../../../../node/store/index.js'
import { announcer, TaskOrigin, TaskStateMachine, TaskStore, type TaskEvent, type TaskRecord } from '../../../../node/tasks/index.js'
import { ExecutorRecords, LearnedAnswers, ROUTING_WINDOW, SelfImprover, successLowerBound } from '../../../../node/improve/index.js'
import { defaultSandboxOptions } from '../../../../skills/sandbox/index.js'
import { TEST_TEAM_TOPIC, Clock, Disk, GossipStub, indexStub, newPeerId, silentLog, SKILL_NAME } from '../../../utils/task-rig.js'

/**
 * The SelfImprover's routing (rule 2): executors' recent success per skill, judged by a lower
 * confidence bound so one lucky run does not win; the bids decide between equals; every
 * routing decision is in the task's history with its evidence, and the rule can be turned off.
 */
describe('node/improve: routing by recent success', function () {
  let A: string, B: string, SUBMITTER: string
  let clock: Clock
  let disk: Disk

  before(async () => { [A, B, SUBMITTER] = await Promise.all([newPeerId(), newPeerId(), newPeerId()]) })
  beforeEach(async () => { clock = new Clock(); disk = await Disk.open(clock, 'aas-routing-') })
  afterEach(async () => { await disk.destroy() })

  /** A result event of `executor` on the skill, as the state machine emits it. */
  const result = (executor: string, status: string): TaskEvent => ({
    kind: 'result', task: { spec: { skill: { name: SKILL_NAME } } } as unknown as TaskRecord, from: 'assigned', to: 'offered', at: clock.now, actor: executor, details: { executor, status }
  })

  it('the lower bound: unseen above always failing, below always succeeding; one lucky run does not beat a long good record', () => {
    expect(successLowerBound(0, 0)).to.be.greaterThan(successLowerBound(0, 5))
    expect(successLowerBound(5, 5)).to.be.greaterThan(successLowerBound(0, 0))
    expect(successLowerBound(18, 20)).to.be.greaterThan(successLowerBound(1, 1))
    expect(successLowerBound(10, 10)).to.be.greaterThan(successLowerBound(9, 10))
  })

  it('records results and lost leases per skill and executor, ignores outcomes that are the input\'s doing, keeps a bounded window, survives a restart', async () => {
    const records = new ExecutorRecords({ store: disk.store })
    for (let i = 0; i < ROUTING_WINDOW + 10; i++) records.listener(result(A, 'succeeded'))
    records.listener(result(A, 'failed'))
    records.listener(result(A, 'needs-human'))
    records.listener(result(A, 'invalid-input'))
    records.listener({ ...result(B, 'x'), kind: 'lease-expired', details: { executor: B } })
    expect(records.stats(SKILL_NAME, A)).to.deep.equal({ successes: ROUTING_WINDOW - 1, runs: ROUTING_WINDOW })
    expect(records.stats(SKILL_NAME, B)).to.deep.equal({ successes: 0, runs: 1 })
    expect(records.stats('other-skill', A)).to.deep.equal({ successes: 0, runs: 0 })
    // the writes are queued in order behind this one: once it is done, they are on disk
    await disk.store.write([])
    const again = new ExecutorRecords({ store: disk.store })
    await again.load()
    expect(again.stats(SKILL_NAME, A)).to.deep.equal({ successes: ROUTING_WINDOW - 1, runs: ROUTING_WINDOW })
  })

  describe('at the origin', () => {
    let records: ExecutorRecords
    let origin: TaskOrigin
    let routing: boolean

    beforeEach(async () => {
      records = new ExecutorRecords({ store: disk.store })
      routing = true
      const self = disk.signer.peerId
      const store = new TaskStore(disk.store.sublevel(Bucket.tasks))
      const machine = new TaskStateMachine({ self, store, audit: disk.audit, now: clock.fn })
      machine.on(announcer({ self, gossip: new GossipStub(), log: silentLog(), teamTopic: TEST_TEAM_TOPIC }))
      const answers = new LearnedAnswers({ store: disk.store, now: clock.fn })
      const improver = {
        reuse: async () => undefined,
        route: (skill: string, ranked: string[]) => new SelfImprover({ answers, executors: records, metrics: null }, { routing }).route(skill, ranked)
      }
      origin = new TaskOrigin(
        { self, store, machine, index: indexStub, gossip: new GossipStub(), metrics: null, log: silentLog(), now: clock.fn, improver },
        { leaseMs: 10_000, bidWindowMs: 5, reofferMs: 1000, defaultTimeoutS: 300, defaultAttempts: 1, sandbox: defaultSandboxOptions }
      )
      await origin.start({ tick: false })
    })

    afterEach(() => { origin.stop() })

    /**
     * A task with A the better bidder than B, both in one window: who gets it. The origin judges
     * bidders by what it knows (tasks they hold), so B first takes one more task alone.
     */
    async function auction (): Promise<TaskRecord> {
      const claim = (t: TaskRecord): TaskClaimBody => ({ taskId: t.id, attempt: 1, freeSlots: 1, cached: false, load: 0 })
      const before = await origin.submit({ skill: SKILL_NAME, input: { text: 'held' } }, SUBMITTER)
      expect((await origin.claim(claim(before), B)).won).to.equal(true)
      const t = await origin.submit({ skill: SKILL_NAME, input: { text: 'a b' } }, SUBMITTER)
      await Promise.all([origin.claim(claim(t), A), origin.claim(claim(t), B)])
      return (await origin.get(t.id))!
    }

    it('with no record, the better bidder (fewer tasks held) wins and nothing is learned', async () => {
      const t = await auction()
      expect(t.executor).to.equal(A)
      expect(t.history.some(h => h.learned != null)).to.equal(false)
    })

    it('an executor that fails most runs of the skill loses to one with a good record, with the evidence in the history', async () => {
      for (let i = 0; i < 8; i++) { records.listener(result(A, i < 6 ? 'failed' : 'succeeded')); records.listener(result(B, 'succeeded')) }
      const t = await auction()
      expect(t.executor).to.equal(B)
      const assigned = t.history.find(h => h.state === 'assigned')!
      expect(assigned.learned?.rule).to.equal('routing')
      expect(assigned.learned?.evidence).to.deep.include({
        chosen: { executor: B, successes: 8, runs: 8, lowerBound: Math.round(successLowerBound(8, 8) * 1000) / 1000 },
        bestBid: { executor: A, successes: 2, runs: 8, lowerBound: Math.round(successLowerBound(2, 8) * 1000) / 1000 }
      })
      const entry = (await disk.entries()).find(e => e.action === 'task.assigned' && e.subject === t.id)
      expect(entry?.details).to.deep.include({ executor: B, routed: true })
    })

    it('records as good as each other: the auction decides; routing off: the auction decides', async () => {
      for (let i = 0; i < 8; i++) { records.listener(result(A, 'succeeded')); records.listener(result(B, 'succeeded')) }
      expect((await auction()).executor).to.equal(A)
      for (let i = 0; i < 8; i++) records.listener(result(A, 'failed'))
      routing = false
      expect((await auction()).executor).to.equal(A)
    })
  })
})
