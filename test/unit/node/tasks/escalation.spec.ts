import { expect } from 'chai'
import type { TaskClaimBody, TaskResultBody } from '../../../../protocol/index.js'
import { Bucket } from '../../../../node/store/index.js'
import {
  announcer, TaskOrigin, TaskStateMachine, TaskStore, type SubmitRequest, type TaskRecord
} from '../../../../node/tasks/index.js'
import { ReviewErrorCode, ReviewQueue } from '../../../../node/review/index.js'
import { LearnedAnswers, SelfImprover } from '../../../../node/improve/index.js'
import { defaultSandboxOptions } from '../../../../skills/sandbox/index.js'
import { refusal } from '../../../utils/refusal.js'
import { TEST_TEAM_TOPIC, Clock, Disk, GossipStub, newPeerId, silentLog, SKILL_NAME, skillManifest, skillRelease } from '../../../utils/task-rig.js'

/**
 * The escalation path with an injected clock and a stubbed network: a failed task climbs to the
 * next tier some executor has, then — past the top tier — waits in the review queue when its
 * submitter asked for review (the default where the node has reviewers), else fails. A skill's
 * request for a human ends its tier at once. The queue: a claim holds a task for one reviewer,
 * holds expire, only the holder decides, an answer must match the skill's output schema, and
 * exactly one decision is taken.
 */
const LEASE = 10_000
const HOLD = 60_000
const outputSchema = { type: 'object', additionalProperties: false, required: ['words'], properties: { words: { type: 'integer' } } }
const index = {
  resolve (ref: string) {
    return [SKILL_NAME, skillRelease.cid].includes(ref) ? { release: skillRelease, manifest: { ...skillManifest, outputSchema } } : undefined
  }
}

describe('node/tasks: escalation through tiers to the review queue', function () {
  let A: string, B: string, SUBMITTER: string
  let clock: Clock
  let disk: Disk
  let gossip: GossipStub
  let origin: TaskOrigin
  let queue: ReviewQueue
  let tiers: number[]
  let reviewers: boolean
  let answers: LearnedAnswers
  let reuse: boolean

  before(async () => { [A, B, SUBMITTER] = await Promise.all([newPeerId(), newPeerId(), newPeerId()]) })

  beforeEach(async () => {
    clock = new Clock()
    disk = await Disk.open(clock, 'aas-escalation-')
    tiers = [0, 1]
    reviewers = true
    const self = disk.signer.peerId
    gossip = new GossipStub()
    const store = new TaskStore(disk.store.sublevel(Bucket.tasks))
    const machine = new TaskStateMachine({ self, store, audit: disk.audit, now: clock.fn })
    machine.on(announcer({ self, gossip, log: silentLog(), teamTopic: TEST_TEAM_TOPIC }))
    answers = new LearnedAnswers({ store: disk.store, now: clock.fn })
    machine.on(answers.listener)
    reuse = true
    const improver = { reuse: async (t: TaskRecord) => await new SelfImprover({ answers, metrics: null }, { reuse }).reuse(t) }
    origin = new TaskOrigin(
      { self, store, machine, index, gossip, metrics: null, log: silentLog(), now: clock.fn, tiers: () => tiers, hasReviewers: () => reviewers, improver },
      { leaseMs: LEASE, bidWindowMs: 0, reofferMs: 1000, defaultTimeoutS: 300, defaultAttempts: 1, sandbox: defaultSandboxOptions }
    )
    await origin.start({ tick: false })
    queue = new ReviewQueue({ origin, store, index, audit: disk.audit, metrics: null, now: clock.fn }, { holdMs: HOLD })
  })

  afterEach(async () => {
    origin.stop()
    await disk.destroy()
  })

  const submit = async (req: Partial<SubmitRequest> = {}): Promise<TaskRecord> =>
    await origin.submit({ skill: SKILL_NAME, input: { text: 'one two three' }, ...req }, SUBMITTER)
  const bid = (t: TaskRecord): TaskClaimBody => ({ taskId: t.id, attempt: t.attempt, freeSlots: 1, cached: true, load: 0 })
  const run = async (t: TaskRecord, exec: string, status: TaskResultBody['status'], error: string | null = 'exit 1'): Promise<TaskRecord> => {
    const won = await origin.claim(bid(t), exec)
    expect(won.won, 'the bid wins').to.equal(true)
    await origin.result({ taskId: t.id, attempt: t.attempt, status, output: null, error, timings: { fetchMs: 1, sandboxMs: 2 } }, exec)
    return (await origin.get(t.id))!
  }
  const actions = async (id: string): Promise<string[]> => (await disk.entries()).filter(e => e.subject === id).map(e => e.action)
  /** The learned answer is written by an event listener: wait for it (not for time). */
  const waitForAnswer = async (review: string): Promise<void> => {
    for (let i = 0; i < 500 && await answers.byReview(review) == null; i++) await new Promise(resolve => setTimeout(resolve, 10))
    expect(await answers.byReview(review), 'the answer is kept').to.not.equal(undefined)
  }
  const inReview = async (): Promise<TaskRecord> => {
    const t = await submit()
    const up = await run(t, A, 'failed')
    return await run(up, B, 'failed')
  }

  describe('tiers', () => {
    it('attempts spent at tier 0 → offered again at tier 1 with fresh attempts and without the exclusion', async () => {
      const t = await submit()
      const up = await run(t, A, 'failed')
      expect([up.state, up.tier, up.tierStart, up.attempt, up.exclude]).to.deep.equal(['offered', 1, 1, 2, []])
      expect(gossip.published.filter(p => p.type === 'task-offer').map(p => [p.body.attempt, p.body.tier, p.valid])).to.deep.equal([[1, 0, true], [2, 1, true]])
      const offered = (await disk.entries()).filter(e => e.subject === t.id && e.action === 'task.offered').map(e => e.details.tier)
      expect(offered).to.deep.equal([0, 1])
    })

    it('no higher tier known → straight to review (attempts-spent), nothing gossiped as done', async () => {
      tiers = [0]
      const t = await submit()
      const r = await run(t, A, 'failed')
      expect(r.state).to.equal('needs-review')
      expect(r.review).to.deep.include({ cause: 'attempts-spent', holder: null, since: clock.now })
      expect(await actions(t.id)).to.deep.equal(['task.accepted', 'task.offered', 'task.assigned', 'task.result-accepted', 'task.escalated'])
      expect(gossip.types()).to.not.include('task-done')
    })

    it('past the top tier: review by default where the node has reviewers, failed where it has none or the submitter said fail', async () => {
      const r = await inReview()
      expect([r.state, r.spec.onFailure, r.tier]).to.deep.equal(['needs-review', 'review', 1])
      reviewers = false
      const byDefault = await submit()
      expect(byDefault.spec.onFailure).to.equal('fail')
      const f = await run(await run(byDefault, A, 'failed'), B, 'failed')
      expect([f.state, f.error]).to.deep.equal(['failed', 'attempts spent at tier 1 (1 of 1); last: attempt 2 failed: exit 1'])
      reviewers = true
      const asked = await submit({ onFailure: 'fail' })
      expect(asked.spec.onFailure).to.equal('fail')
      const err = await refusal(submit({ onFailure: 'maybe' as any }))
      expect([err.name, err.code]).to.deep.equal(['SubmitError', 'ERR_BAD_SUBMISSION'])
    })

    it('a skill asking for a human ends its tier at once, attempts left or not (cause needs-human)', async () => {
      const t = await submit({ attempts: 3 })
      const up = await run(t, A, 'needs-human', 'handwriting I cannot read')
      expect([up.state, up.tier, up.attempt]).to.deep.equal(['offered', 1, 2])
      const r = await run(up, B, 'needs-human', 'still cannot read it')
      expect(r.state).to.equal('needs-review')
      expect(r.review?.cause).to.equal('needs-human')
      expect(r.review?.reason).to.match(/still cannot read it/)
    })

    it('a deadline with no bidder climbs with the whole time again, then goes to review (no-bidder)', async () => {
      const t = await submit({ timeoutS: 60 })
      clock.advance(61_000)
      await origin.tick()
      const up = (await origin.get(t.id))!
      expect([up.state, up.tier, up.deadline]).to.deep.equal(['offered', 1, clock.now + 60_000])
      clock.advance(61_000)
      await origin.tick()
      const r = (await origin.get(t.id))!
      expect([r.state, r.review?.cause]).to.deep.equal(['needs-review', 'no-bidder'])
      clock.advance(3_600_000)
      await origin.tick()
      expect((await origin.get(t.id))!.state, 'a person has no deadline').to.equal('needs-review')
    })
  })

  describe('the review queue', () => {
    it('lists waiting tasks oldest first with age, cause and holder', async () => {
      const first = await inReview()
      clock.advance(5_000)
      const second = await inReview()
      clock.advance(1_000)
      expect(queue.list().map(i => [i.id, i.ageS, i.cause, i.holder])).to.deep.equal([[first.id, 6, 'attempts-spent', null], [second.id, 1, 'attempts-spent', null]])
      expect(queue.depth).to.equal(2)
    })

    it('a claim holds the task for one reviewer; another is refused and audited; the hold expires', async () => {
      const t = await inReview()
      const held = await queue.claim(t.id, 'ada')
      expect(held.review).to.deep.include({ holder: 'user:ada', holdUntil: clock.now + HOLD })
      const err = await refusal(queue.claim(t.id, 'bob'))
      expect([err.name, err.code, err.holder]).to.deep.equal(['ReviewError', ReviewErrorCode.HELD, 'user:ada'])
      const refusedDecision = await refusal(queue.resolve(t.id, 'bob', { output: { words: 3 } }))
      expect(refusedDecision.code).to.equal(ReviewErrorCode.HELD)
      const refused = (await disk.entries()).filter(e => e.action === 'review.refused')
      expect(refused.map(e => [e.actor, e.details.action, e.details.code])).to.deep.equal([['user:bob', 'claim', ReviewErrorCode.HELD], ['user:bob', 'resolve', ReviewErrorCode.HELD]])
      clock.advance(HOLD + 1)
      await origin.tick()
      expect((await origin.get(t.id))!.review?.holder, 'the hold expired').to.equal(null)
      expect((await queue.claim(t.id, 'bob')).review?.holder).to.equal('user:bob')
    })

    it('resolve: only the holder, only an answer the output schema accepts; then the task ends resolved, gossiped, audited with the person', async () => {
      const t = await inReview()
      expect((await refusal(queue.resolve(t.id, 'ada', { output: { words: 3 } }))).code, 'claim first').to.equal(ReviewErrorCode.HOLD_REQUIRED)
      await queue.claim(t.id, 'ada')
      expect((await refusal(queue.resolve(t.id, 'ada', { output: { words: 'three' } }))).code).to.equal(ReviewErrorCode.INVALID_OUTPUT)
      clock.advance(30_000)
      const done = await queue.resolve(t.id, 'ada', { output: { words: 3 }, annotation: 'counted by hand', reuse: true })
      expect([done.state, done.output, done.review?.resolvedBy, done.review?.annotation, done.review?.reuse, done.completedAt]).to.deep.equal(['resolved', { words: 3 }, 'user:ada', 'counted by hand', true, clock.now])
      expect(gossip.published.at(-1)).to.deep.include({ type: 'task-done', valid: true, body: { taskId: t.id, idSeed: t.idSeed } })
      const entries = (await disk.entries()).filter(e => e.subject === t.id)
      expect(entries.slice(-4).map(e => [e.action, e.actor])).to.deep.equal([['review.claimed', 'user:ada'], ['review.refused', 'user:ada'], ['review.resolved', 'user:ada'], ['task.finished', disk.signer.peerId]])
      expect(entries.at(-1)?.details).to.deep.include({ state: 'resolved', resolvedBy: 'user:ada' })
      expect((await refusal(queue.resolve(t.id, 'ada', { output: { words: 4 } }))).code, 'decided once').to.equal(ReviewErrorCode.NOT_IN_REVIEW)
      expect((await disk.verifyChain()).ok).to.equal(true)
    })

    it('two resolutions at once by the holder: exactly one is taken', async () => {
      const t = await inReview()
      await queue.claim(t.id, 'ada')
      const outcomes = await Promise.allSettled([
        queue.resolve(t.id, 'ada', { output: { words: 3 } }),
        queue.resolve(t.id, 'ada', { output: { words: 4 } })
      ])
      expect(outcomes.map(o => o.status).sort()).to.deep.equal(['fulfilled', 'rejected'])
      expect((outcomes.find(o => o.status === 'rejected') as PromiseRejectedResult).reason.code).to.equal(ReviewErrorCode.NOT_IN_REVIEW)
      expect((await actions(t.id)).filter(a => a === 'review.resolved')).to.have.length(1)
    })

    it('reject ends the task failed with the reason; release gives it back; a view is audited', async () => {
      const t = await inReview()
      await queue.show(t.id, 'ada')
      await queue.claim(t.id, 'ada')
      const back = await queue.release(t.id, 'ada')
      expect(back.review?.holder).to.equal(null)
      expect((await refusal(queue.reject(t.id, 'ada', ''))).code, 'a reason is required').to.equal(ReviewErrorCode.BAD_REQUEST)
      await queue.claim(t.id, 'ada')
      const r = await queue.reject(t.id, 'ada', 'the input is not a text')
      expect([r.state, r.error]).to.deep.equal(['failed', 'rejected by user:ada: the input is not a text'])
      expect((await actions(t.id)).slice(-6)).to.deep.equal(['review.viewed', 'review.claimed', 'review.released', 'review.claimed', 'review.rejected', 'task.finished'])
    })

    it('answer reuse: an identical input is answered from memory when the reviewer allowed it, saying from which review', async () => {
      const first = await inReview()
      await queue.claim(first.id, 'ada')
      await queue.resolve(first.id, 'ada', { output: { words: 3 }, annotation: 'counted by hand', reuse: true })
      await waitForAnswer(first.id)
      const again = await submit()
      expect([again.state, again.output, again.source, again.attemptsLog]).to.deep.equal(['succeeded', { words: 3 }, 'learned', []])
      expect(again.history.at(-1)?.learned).to.deep.include({ rule: 'answer-reuse' })
      expect(again.history.at(-1)?.learned?.evidence).to.deep.include({ review: first.id, resolvedBy: 'ada', annotation: 'counted by hand' })
      expect(await actions(again.id)).to.deep.equal(['task.accepted', 'task.finished'])
      expect((await disk.entries()).filter(e => e.subject === again.id).at(-1)?.details).to.deep.include({ state: 'succeeded', source: 'learned' })
      expect(gossip.published.filter(p => p.body.taskId === again.id), 'nothing offered').to.deep.equal([])
      // another input, another skill name, another major version: never
      expect((await submit({ input: { text: 'four five' } })).state).to.equal('offered')
      expect(await answers.find('other-skill', skillRelease.version, { text: 'one two three' })).to.equal(undefined)
      expect(await answers.find(SKILL_NAME, '2.0.0', { text: 'one two three' })).to.equal(undefined)
      expect(await answers.find(SKILL_NAME, '1.9.1', { text: 'one two three' }), 'same major').to.not.equal(undefined)
      // turned off, or withdrawn: never
      reuse = false
      expect((await submit()).state).to.equal('offered')
      reuse = true
      await answers.withdraw(first.id, 'user:ada')
      expect((await submit()).state).to.equal('offered')
    })

    it('answer reuse: a resolution without the reuse box is not kept', async () => {
      const first = await inReview()
      await queue.claim(first.id, 'ada')
      await queue.resolve(first.id, 'ada', { output: { words: 3 } })
      expect(await answers.byReview(first.id)).to.equal(undefined)
      expect((await submit()).state).to.equal('offered')
    })

    it('a task not in review, or unknown, is refused by code', async () => {
      const t = await submit()
      expect((await refusal(queue.claim(t.id, 'ada'))).code).to.equal(ReviewErrorCode.NOT_IN_REVIEW)
      expect((await refusal(queue.claim('bafyreinosuchtask', 'ada'))).code).to.equal(ReviewErrorCode.NOT_FOUND)
    })
  })
})
