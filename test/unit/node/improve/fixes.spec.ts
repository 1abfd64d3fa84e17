import { expect } from 'chai'
import type { TaskResultBody } from '../../../../protocol/index.js'
import { Bucket } from '../../../../node/store/index.js'
import { announcer, TaskOrigin, TaskStateMachine, TaskStore, type TaskRecord } from '../../../../node/tasks/index.js'
import { ReviewErrorCode, ReviewQueue } from '../../../../node/review/index.js'
import { failureSignature, FixHints, LearnedAnswers, normaliseError, SelfImprover } from '../../../../node/improve/index.js'
import { defaultSandboxOptions } from '../../../../skills/sandbox/index.js'
import { refusal } from '../../../utils/refusal.js'
import { TEST_TEAM_TOPIC, Clock, Disk, GossipStub, newPeerId, silentLog, SKILL_NAME, skillManifest, skillRelease } from '../../../utils/task-rig.js'

/**
 * The SelfImprover's fix hints (rule 4) through the real origin, review queue and LevelDB: a
 * reviewer resolves a task with a fix of its input; a later task failing the same way is
 * retried once with the fix before it goes to a person, saying so in its history; the outcome
 * is counted, and a fix that keeps failing is retired. A fix that is not `{input: {…}}`, breaks
 * the input schema or has no failed run to tie to is refused by code.
 */
const outputSchema = { type: 'object', additionalProperties: false, required: ['words'], properties: { words: { type: 'integer' } } }
const inputSchema = { type: 'object', additionalProperties: false, required: ['text'], properties: { text: { type: 'string' }, lang: { type: 'string', enum: ['en', 'fr'] } } }
const index = {
  resolve (ref: string) {
    return [SKILL_NAME, skillRelease.cid].includes(ref) ? { release: skillRelease, manifest: { ...skillManifest, inputSchema, outputSchema } } : undefined
  }
}
const HUMAN = 'this text needs a person to read it'

describe('node/improve: fix hints from reviewers', function () {
  let A: string, B: string, SUBMITTER: string
  let clock: Clock
  let disk: Disk
  let origin: TaskOrigin
  let queue: ReviewQueue
  let fixes: FixHints
  let on: boolean
  let tiers: number[]

  before(async () => { [A, B, SUBMITTER] = await Promise.all([newPeerId(), newPeerId(), newPeerId()]) })

  beforeEach(async () => {
    clock = new Clock()
    disk = await Disk.open(clock, 'aas-fixes-')
    on = true
    tiers = [0]
    const self = disk.signer.peerId
    const store = new TaskStore(disk.store.sublevel(Bucket.tasks))
    const machine = new TaskStateMachine({ self, store, audit: disk.audit, now: clock.fn })
    machine.on(announcer({ self, gossip: new GossipStub(), log: silentLog(), teamTopic: TEST_TEAM_TOPIC }))
    fixes = new FixHints({ store: disk.store, audit: disk.audit, metrics: null, now: clock.fn }, { maxFailures: 2 })
    machine.on(fixes.listener)
    const answers = new LearnedAnswers({ store: disk.store, now: clock.fn })
    const improver = () => new SelfImprover({ answers, fixes, metrics: null }, { fixHints: on })
    origin = new TaskOrigin(
      {
        self, store, machine, index, gossip: new GossipStub(), metrics: null, log: silentLog(), now: clock.fn, tiers: () => tiers, hasReviewers: () => true,
        improver: { reuse: async () => undefined, fixHint: (t, f) => improver().fixHint(t, f) }
      },
      { leaseMs: 10_000, bidWindowMs: 0, reofferMs: 1000, defaultTimeoutS: 300, defaultAttempts: 1, sandbox: defaultSandboxOptions }
    )
    await origin.start({ tick: false })
    queue = new ReviewQueue({ origin, store, index, audit: disk.audit, metrics: null, now: clock.fn }, { holdMs: 60_000 })
  })

  afterEach(async () => {
    origin.stop()
    await disk.destroy()
  })

  /** Attempt `t.attempt` won by `exec`, ending `status`; returns the task and the input the executor was given. */
  async function run (t: TaskRecord, exec: string, status: TaskResultBody['status'], error: string | null = HUMAN): Promise<{ t: TaskRecord, input: unknown }> {
    const won = await origin.claim({ taskId: t.id, attempt: t.attempt, freeSlots: 1, cached: true, load: 0 }, exec)
    if (!won.won) throw new Error(`bid lost: ${won.reason}`)
    await origin.result({ taskId: t.id, attempt: t.attempt, status, output: status === 'succeeded' ? { words: 2 } : null, error: status === 'succeeded' ? null : error, timings: { fetchMs: 1, sandboxMs: 2 } }, exec)
    return { t: (await origin.get(t.id))!, input: won.input }
  }

  const submit = async (text: string): Promise<TaskRecord> => await origin.submit({ skill: SKILL_NAME, input: { text } }, SUBMITTER)

  /** A task that asked for a person, resolved by ada with `fix`; waits until the fix is kept. */
  async function reviewed (fix: unknown): Promise<TaskRecord> {
    const { t } = await run(await submit('ceci est du texte 1'), A, 'needs-human')
    expect(t.state).to.equal('needs-review')
    await queue.claim(t.id, 'ada')
    const done = await queue.resolve(t.id, 'ada', { output: { words: 4 }, annotation: 'it is French', fix })
    const signature = failureSignature(skillRelease, 'needs-human', HUMAN)
    for (let i = 0; i < 500 && fixes.find(signature) == null; i++) await new Promise(resolve => setTimeout(resolve, 10))
    expect(fixes.find(signature)?.review).to.equal(t.id)
    return done
  }

  const waitFor = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise(resolve => setTimeout(resolve, 10))
    expect(cond()).to.equal(true)
  }

  it('the signature: skill name and major, status, the error without its particulars', () => {
    expect(normaliseError('KeyError: \'title\' at line 42 in 0xdeadbeef01')).to.equal('keyerror: … at line # in #')
    expect(failureSignature({ name: 'x', version: '1.4.2' }, 'failed', 'row 7 of "a.csv" is empty')).to.equal('x@1|failed|row # of … is empty')
    expect(failureSignature({ name: 'x', version: '1.4.2' }, 'failed', 'row 8 of "b.csv" is empty')).to.equal(failureSignature({ name: 'x', version: '1.9.0' }, 'failed', 'row 9 of "c.csv" is empty'))
    expect(failureSignature({ name: 'x', version: '2.0.0' }, 'failed', 'row 7 of "a.csv" is empty')).to.not.equal(failureSignature({ name: 'x', version: '1.0.0' }, 'failed', 'row 7 of "a.csv" is empty'))
  })

  it('the same failure on a later task is retried once with the fix, before a person; the history says why; the outcome is counted', async () => {
    const first = await reviewed({ input: { lang: 'fr' } })
    expect(first.review?.fix).to.deep.equal({ input: { lang: 'fr' } })
    expect((await disk.entries()).filter(e => e.action === 'learned.fix-kept').map(e => [e.subject, e.actor])).to.deep.equal([[first.id, 'user:ada']])

    const { t: retried } = await run(await submit('encore du texte 2'), A, 'needs-human')
    expect([retried.state, retried.attempt, retried.fix?.review, retried.fix?.attempt]).to.deep.equal(['offered', 2, first.id, 2])
    const h = retried.history.at(-1)!
    expect(h.learned?.rule).to.equal('fix-hint')
    expect(h.learned?.evidence).to.deep.include({ review: first.id, resolvedBy: 'ada', fix: { input: { lang: 'fr' } }, signature: failureSignature(skillRelease, 'needs-human', HUMAN) })
    const { t: done, input } = await run(retried, B, 'succeeded')
    expect(input, 'the executor ran the fixed input').to.deep.equal({ text: 'encore du texte 2', lang: 'fr' })
    expect([done.state, done.spec.input]).to.deep.equal(['succeeded', { text: 'encore du texte 2' }])
    await waitFor(() => fixes.find(retried.fix!.signature)?.succeeded === 1)
    expect(fixes.find(retried.fix!.signature)).to.deep.include({ applied: 1, succeeded: 1, failed: 0 })
  })

  it('once per task: a retry that fails goes to a person; a fix that fails twice in a row is retired and no longer applied', async () => {
    await reviewed({ input: { lang: 'fr' } })
    const signature = failureSignature(skillRelease, 'needs-human', HUMAN)
    for (let i = 1; i <= 2; i++) {
      const { t } = await run(await submit(`texte ${i}`), A, 'needs-human')
      expect(t.fix).to.not.equal(undefined)
      const { t: after } = await run(t, B, 'needs-human')
      expect([after.state, after.review?.cause]).to.deep.equal(['needs-review', 'needs-human'])
      await waitFor(() => fixes.list()[0].failed === i)
    }
    expect(fixes.find(signature), 'retired').to.equal(undefined)
    expect(fixes.list()[0].retired?.reason).to.equal('failed 2 retries in a row')
    // audited after the count: wait for the entry
    for (let i = 0; i < 500 && !(await disk.entries()).some(e => e.action === 'learned.fix-retired'); i++) await new Promise(resolve => setTimeout(resolve, 10))
    expect((await disk.entries()).filter(e => e.action === 'learned.fix-retired').map(e => e.details.failed)).to.deep.equal([2])
    const { t: straight } = await run(await submit('texte 3'), A, 'needs-human')
    expect([straight.state, straight.fix ?? null]).to.deep.equal(['needs-review', null])
  })

  it('another failure, or the rule turned off: straight to a person', async () => {
    await reviewed({ input: { lang: 'fr' } })
    const { t: other } = await run(await submit('x'), A, 'failed', 'exit 1')
    expect(other.state).to.equal('needs-review')
    on = false
    const { t: off } = await run(await submit('y'), A, 'needs-human')
    expect([off.state, off.fix ?? null]).to.deep.equal(['needs-review', null])
  })

  it('a fix that is not {input: {…}}, breaks the input schema, or has no failed run to tie to is refused by code, and nothing is kept', async () => {
    const { t } = await run(await submit('z'), A, 'needs-human')
    await queue.claim(t.id, 'ada')
    for (const fix of [{ lang: 'fr' }, { input: 'fr' }, { input: {} }, { input: { lang: 'de' } }, { input: { nope: 1 } }, [1], 'fr']) {
      expect((await refusal(queue.resolve(t.id, 'ada', { output: { words: 1 }, fix }))).code, JSON.stringify(fix)).to.equal(ReviewErrorCode.INVALID_FIX)
    }
    expect((await origin.get(t.id))?.state).to.equal('needs-review')
    expect(fixes.list()).to.deep.equal([])
    // no executor ever took it: no run's failure to tie a fix to
    tiers = [0]
    const late = await submit('w')
    clock.advance(301_000)
    await origin.tick()
    const noBid = (await origin.get(late.id))!
    expect(noBid.review?.cause).to.equal('no-bidder')
    await queue.claim(noBid.id, 'ada')
    expect((await refusal(queue.resolve(noBid.id, 'ada', { output: { words: 1 }, fix: { input: { lang: 'fr' } } }))).code).to.equal(ReviewErrorCode.INVALID_FIX)
  })
})
