import { expect } from 'chai'
import type { Release } from '../../../../protocol/index.js'
import { Bucket } from '../../../../node/store/index.js'
import { announcer, TaskOrigin, TaskStateMachine, TaskStore, type TaskEvent, type TaskRecord } from '../../../../node/tasks/index.js'
import { LearnedAnswers, Quarantine, SelfImprover, wilson } from '../../../../node/improve/index.js'
import { SkillIndex } from '../../../../skills/index/index.js'
import { defaultSandboxOptions } from '../../../../skills/sandbox/index.js'
import { TEST_TEAM_TOPIC, Clock, Disk, GossipStub, newPeerId, silentLog, SKILL_NAME, skillManifest, skillRelease } from '../../../utils/task-rig.js'

/**
 * The SelfImprover's quarantine (rule 3) with a real skill index and LevelDB: a release whose
 * failure rate over its window is clearly above the previous good release's (95% Wilson
 * intervals apart, enough runs of both) is quarantined; submissions asking for a name or range
 * get the previous good release, saying why in the history; asking by CID, or a range with no
 * good release, runs what was asked. A newer release or an admin ends it; the state survives a
 * restart; the rule can be turned off. Also: answer reuse never crosses names or majors.
 */
const B32 = 'abcdefghijklmnopqrstuvwxyz234567'
const fakeCid = (seed: string): string => 'bafyrei' + Array.from({ length: 52 }, (_x, i) => B32[(seed.charCodeAt(i % seed.length) * (i + 7)) % 32]).join('')

function release (version: string, name = SKILL_NAME): { release: Release, manifest: Record<string, unknown> } {
  return { release: { ...skillRelease, name, version, cid: fakeCid(`${name}@${version}`) }, manifest: { ...skillManifest, name, version } }
}

describe('node/improve: quarantine of a release that fails clearly more than the one before', function () {
  let A: string, SUBMITTER: string
  let clock: Clock
  let disk: Disk
  let index: SkillIndex
  let quarantine: Quarantine
  let answers: LearnedAnswers
  let origin: TaskOrigin
  let gossip: GossipStub
  let on: boolean
  const v1 = release('1.0.0')
  const v11 = release('1.1.0')

  before(async () => { [A, SUBMITTER] = await Promise.all([newPeerId(), newPeerId()]) })

  beforeEach(async () => {
    clock = new Clock()
    disk = await Disk.open(clock, 'aas-quarantine-')
    index = new SkillIndex({ store: disk.store.sublevel(Bucket.skills), trust: { trustsAuthor: () => true } }, { now: clock.fn })
    await index.add(v1, 'me')
    await index.add(v11, 'me')
    quarantine = new Quarantine({ store: disk.store, index, audit: disk.audit, metrics: null, now: clock.fn })
    answers = new LearnedAnswers({ store: disk.store, now: clock.fn })
    on = true
    const self = disk.signer.peerId
    gossip = new GossipStub()
    const store = new TaskStore(disk.store.sublevel(Bucket.tasks))
    const machine = new TaskStateMachine({ self, store, audit: disk.audit, now: clock.fn })
    machine.on(announcer({ self, gossip, log: silentLog(), teamTopic: TEST_TEAM_TOPIC }))
    machine.on(quarantine.listener)
    machine.on(answers.listener)
    const improver = () => new SelfImprover({ answers, quarantine, metrics: null }, { quarantine: on })
    origin = new TaskOrigin(
      {
        self, store, machine, index, gossip, metrics: null, log: silentLog(), now: clock.fn, hasReviewers: () => false,
        improver: { reuse: async (t) => await improver().reuse(t), release: (ref, entry) => improver().release(ref, entry) }
      },
      { leaseMs: 10_000, bidWindowMs: 0, reofferMs: 1000, defaultTimeoutS: 300, defaultAttempts: 1, sandbox: defaultSandboxOptions }
    )
    await origin.start({ tick: false })
  })

  afterEach(async () => {
    origin.stop()
    await disk.destroy()
  })

  /** One task asking for `ref`, run by A to `status`. */
  async function runOne (ref: string, status: 'succeeded' | 'failed' | 'needs-human', input: unknown = { text: 'a b' }): Promise<TaskRecord> {
    const t = await origin.submit({ skill: ref, input }, SUBMITTER)
    const won = await origin.claim({ taskId: t.id, attempt: 1, freeSlots: 1, cached: true, load: 0 }, A)
    expect(won.won).to.equal(true)
    await origin.result({ taskId: t.id, attempt: 1, status, output: status === 'succeeded' ? { words: 2 } : null, error: status === 'failed' ? 'Traceback: KeyError 42' : null, timings: { fetchMs: 1, sandboxMs: 2 } }, A)
    return (await origin.get(t.id))!
  }

  /** The quarantine is written after the result's event: wait for it (not for time). */
  async function quarantined (cid: string): Promise<void> {
    for (let i = 0; i < 500 && quarantine.active(cid) == null; i++) await new Promise(resolve => setTimeout(resolve, 10))
    expect(quarantine.active(cid), 'quarantined').to.not.equal(undefined)
  }

  /** 1.0.0 succeeds 8 times, then 1.1.0 (the newest: what "word-count" resolves to) fails `n` runs. */
  async function regress (n = 10): Promise<void> {
    for (let i = 0; i < 8; i++) await runOne(`${SKILL_NAME}@1.0.0`, 'succeeded')
    for (let i = 0; i < n; i++) expect((await runOne(SKILL_NAME, 'failed')).spec.skill.version).to.equal('1.1.0')
  }

  it('the test: Wilson intervals at 95%; a streak of a few failures is not "clearly above"', () => {
    const { lower, upper } = wilson(10, 10)
    expect(lower).to.be.closeTo(0.722, 0.001)
    expect(upper).to.equal(1)
    expect(wilson(0, 5).upper).to.be.closeTo(0.434, 0.001)
    expect(wilson(6, 10).lower).to.be.lessThan(wilson(0, 5).upper)
    expect(wilson(0, 0)).to.deep.equal({ lower: 0, upper: 1 })
  })

  it('quarantines 1.1.0 after 10 failed runs against 8 good ones of 1.0.0; "word-count" then runs 1.0.0, saying why in the history', async () => {
    await regress()
    await quarantined(v11.release.cid)
    const q = quarantine.active(v11.release.cid)!
    expect(q.evidence).to.deep.include({ test: 'wilson-95', window: 40 })
    expect(q.evidence.release).to.deep.include({ version: '1.1.0', failures: 10, runs: 10 })
    expect(q.evidence.previous).to.deep.include({ version: '1.0.0', failures: 0, runs: 8 })
    expect((await disk.entries()).filter(e => e.action === 'learned.quarantined').map(e => [e.subject, e.details.version])).to.deep.equal([[v11.release.cid, '1.1.0']])

    gossip.clear()
    const t = await runOne(SKILL_NAME, 'succeeded')
    expect([t.state, t.spec.skill.version, t.spec.skill.cid]).to.deep.equal(['succeeded', '1.0.0', v1.release.cid])
    // a team offer names no skill (the winner learns the good release with the input, as t.spec says)
    expect(gossip.published.find(p => p.type === 'task-offer')?.body.skill, 'a team offer names no release').to.equal(undefined)
    const first = t.history[0]
    expect(first.learned?.rule).to.equal('quarantine')
    expect(first.learned?.evidence).to.deep.include({ asked: SKILL_NAME, chosen: { version: '1.0.0', cid: v1.release.cid } })
    expect(first.learned?.evidence.quarantined).to.deep.include({ version: '1.1.0', cid: v11.release.cid, reason: q.reason })
    // a range the good release is in: the same; asked by CID, or a range with no good release: what was asked
    expect((await origin.submit({ skill: `${SKILL_NAME}@^1.0.0`, input: { text: 'x' } }, SUBMITTER)).spec.skill.version).to.equal('1.0.0')
    expect((await origin.submit({ skill: v11.release.cid, input: { text: 'x' } }, SUBMITTER)).spec.skill.version).to.equal('1.1.0')
    const none = await origin.submit({ skill: `${SKILL_NAME}@~1.1.0`, input: { text: 'x' } }, SUBMITTER)
    expect([none.spec.skill.version, none.history[0].learned]).to.deep.equal(['1.1.0', undefined])
    // turned off: the newest runs
    on = false
    expect((await origin.submit({ skill: SKILL_NAME, input: { text: 'x' } }, SUBMITTER)).spec.skill.version).to.equal('1.1.0')
  })

  it('not quarantined: too few runs, failures that are the input\'s doing, a previous release as bad, no record of the previous one', async () => {
    for (let i = 0; i < 8; i++) await runOne(`${SKILL_NAME}@1.0.0`, 'succeeded')
    for (let i = 0; i < 9; i++) await runOne(SKILL_NAME, 'failed')
    for (let i = 0; i < 5; i++) await runOne(SKILL_NAME, 'needs-human')
    expect(quarantine.stats(v11.release.cid)).to.deep.equal({ failures: 9, runs: 9 })
    expect(await quarantine.check(v11.release.cid)).to.equal(undefined)
    // 6 of 10 against 0 of 5 is not clearly above
    const other = new Quarantine({ store: disk.store, index, audit: null, metrics: null, now: clock.fn })
    const ev = (cid: string, status: string): TaskEvent => ({ kind: 'result', task: { spec: { skill: { cid } } } as unknown as TaskRecord, from: 'assigned', to: 'failed', at: clock.now, actor: A, details: { status, executor: A } })
    for (let i = 0; i < 5; i++) other.listener(ev(v1.release.cid, 'succeeded'))
    for (let i = 0; i < 10; i++) other.listener(ev(v11.release.cid, i < 6 ? 'failed' : 'succeeded'))
    expect(await other.check(v11.release.cid)).to.equal(undefined)
    // the previous release failed as often: the input's doing, not the release's
    const same = new Quarantine({ store: disk.store, index, audit: null, metrics: null, now: clock.fn })
    for (let i = 0; i < 10; i++) { same.listener(ev(v1.release.cid, 'failed')); same.listener(ev(v11.release.cid, 'failed')) }
    expect(await same.check(v11.release.cid)).to.equal(undefined)
    // nothing known of the previous release
    const blind = new Quarantine({ store: disk.store, index, audit: null, metrics: null, now: clock.fn })
    for (let i = 0; i < 10; i++) blind.listener(ev(v11.release.cid, 'failed'))
    expect(await blind.check(v11.release.cid)).to.equal(undefined)
  })

  it('survives a restart; an admin ends it (audited) and the release runs again', async () => {
    await regress()
    await quarantined(v11.release.cid)
    const again = new Quarantine({ store: disk.store, index, audit: null, metrics: null, now: clock.fn })
    await again.load()
    expect(again.active(v11.release.cid)?.version).to.equal('1.1.0')
    expect(again.stats(v11.release.cid)).to.deep.equal({ failures: 10, runs: 10 })

    // an admin lifts it: 1.1.0 runs again, and counts as good
    clock.advance(1000)
    const lifted = await quarantine.lift(v11.release.cid, 'user:root')
    expect(lifted?.lifted).to.deep.equal({ by: 'user:root', at: clock.now })
    expect(await quarantine.lift(v11.release.cid, 'user:root'), 'lifted already').to.equal(undefined)
    expect((await origin.submit({ skill: SKILL_NAME, input: { text: 'x' } }, SUBMITTER)).spec.skill.version).to.equal('1.1.0')
    const entry = (await disk.entries()).find(e => e.action === 'learned.quarantine-lifted')
    expect([entry?.subject, entry?.actor, entry?.details.by]).to.deep.equal([v11.release.cid, 'user:root', 'admin'])
  })

  it('a newer release of the name and author ends the quarantine; a bad release is skipped as a fallback', async () => {
    await regress()
    await quarantined(v11.release.cid)
    const v12 = release('1.2.0')
    await index.add(v12, 'me')
    expect(quarantine.status(v11.release.cid)?.lifted).to.deep.include({ by: 'newer-release', version: '1.2.0' })
    expect(quarantine.active(v11.release.cid)).to.equal(undefined)
    expect((await origin.submit({ skill: SKILL_NAME, input: { text: 'x' } }, SUBMITTER)).spec.skill.version).to.equal('1.2.0')
    // were 1.2.0 quarantined too, its fallback is 1.0.0, not the bad 1.1.0
    expect(quarantine.previousGood(SKILL_NAME, v12.release.author, '1.2.0')?.release.version).to.equal('1.0.0')
  })

  it('answer reuse never crosses skill names or major versions, and stops when withdrawn', async () => {
    const v2 = release('2.0.0')
    const other = release('1.0.0', 'other-skill')
    await index.add(v2, 'me')
    await index.add(other, 'me')
    const input = { text: 'same words here' }
    // a reviewer's answer for word-count 1.x, reuse allowed (as the review queue's event carries it)
    const reviewed = { id: 'bafyreireviewedtaskaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', spec: { skill: v11.release, input }, output: { words: 3 }, review: { reuse: true, resolvedBy: 'user:ada', annotation: 'by hand' } } as unknown as TaskRecord
    answers.listener({ kind: 'resolved', task: reviewed, from: 'needs-review', to: 'resolved', at: clock.now, actor: 'user:ada', details: {} })
    for (let i = 0; i < 500 && await answers.byReview(reviewed.id) == null; i++) await new Promise(resolve => setTimeout(resolve, 10))
    const reused = await origin.submit({ skill: `${SKILL_NAME}@^1.0.0`, input }, SUBMITTER)
    expect([reused.state, reused.source, reused.history[0].learned?.rule]).to.deep.equal(['succeeded', 'learned', 'answer-reuse'])
    expect((await origin.submit({ skill: `${SKILL_NAME}@^2.0.0`, input }, SUBMITTER)).state, 'another major').to.equal('offered')
    expect((await origin.submit({ skill: 'other-skill', input }, SUBMITTER)).state, 'another name').to.equal('offered')
    await answers.withdraw(reviewed.id, 'user:ada')
    expect((await origin.submit({ skill: `${SKILL_NAME}@^1.0.0`, input }, SUBMITTER)).state, 'withdrawn').to.equal('offered')
  })
})
