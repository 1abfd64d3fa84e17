import { expect } from 'chai'
import { GossipActionError, learnedAnswer, type LearnedAnswerBody, type MessageSpec, type ValidatedMessage } from '../../../../protocol/index.js'
import { AnswerSharing, LearnedAnswers } from '../../../../node/improve/index.js'
import type { TaskEvent } from '../../../../node/tasks/index.js'
import { Clock, Disk, silentLog, TEST_TEAM_TOPIC } from '../../../utils/task-rig.js'

/**
 * The team learns together: an answer a reviewer allowed to be reused on one node is adopted
 * by its teammates (gossip on the team topic), and so is its withdrawal; a partner's node is
 * not heard; an older answer never replaces a newer one.
 */
type Handler = (msg: ValidatedMessage<LearnedAnswerBody>) => Promise<void> | void
class Bridge {
  handler?: Handler
  admit?: Handler
  readonly peers: Bridge[] = []
  readonly published: Array<{ topic?: string, body: LearnedAnswerBody }> = []
  constructor (readonly self: string) {}
  handle<B> (_spec: MessageSpec<B>, handler: any, opts: { admit?: any } = {}): void { this.handler = handler; this.admit = opts.admit }
  async publish<B> (_spec: MessageSpec<B>, body: B, opts: { topic?: string } = {}): Promise<any> {
    this.published.push({ topic: opts.topic, body: body as LearnedAnswerBody })
    for (const p of this.peers) await p.deliver(body as LearnedAnswerBody, this.self, true)
    return { bytes: new Uint8Array(), recipients: this.peers.length }
  }

  async deliver (body: LearnedAnswerBody, sender: string, own: boolean): Promise<void> {
    const msg = { envelope: { body } as any, sender, member: { own } } as ValidatedMessage<LearnedAnswerBody>
    await this.admit?.(msg)
    await this.handler?.(msg)
  }
}

describe('node/improve: learned answers shared within the team', () => {
  const clock = new Clock()
  let x: Disk, y: Disk
  let ax: LearnedAnswers, ay: LearnedAnswers
  let bx: Bridge, by: Bridge

  const resolved = (id: string, input: unknown, output: unknown, at: number): TaskEvent => ({
    kind: 'resolved',
    at,
    task: { id, spec: { skill: { name: 'word-count', version: '1.2.0', cid: 'b', author: 'z' }, input }, output, review: { reuse: true, resolvedBy: 'user:ada', annotation: 'counted by hand' } }
  } as unknown as TaskEvent)

  /** Waits for the write and the gossip that follow an event (LevelDB is real, on disk). */
  const until = async (check: () => Promise<boolean> | boolean): Promise<void> => {
    for (let i = 0; i < 200 && !await check(); i++) await new Promise(resolve => setTimeout(resolve, 10))
  }

  beforeEach(async () => {
    x = await Disk.open(clock, 'aas-share-')
    y = await Disk.open(clock, 'aas-share-')
    ax = new LearnedAnswers({ store: x.store, now: clock.fn })
    ay = new LearnedAnswers({ store: y.store, now: clock.fn })
    bx = new Bridge('X')
    by = new Bridge('Y')
    bx.peers.push(by)
    by.peers.push(bx)
    new AnswerSharing({ answers: ax, gossip: bx as any, teamTopic: TEST_TEAM_TOPIC, metrics: null, log: silentLog() }).start()
    new AnswerSharing({ answers: ay, gossip: by as any, teamTopic: TEST_TEAM_TOPIC, metrics: null, log: silentLog() }).start()
  })

  afterEach(async () => { await x.close(); await y.close() })

  it('an answer resolved with reuse on X is adopted by Y, on the team topic, with the input\'s fingerprint only', async () => {
    ax.listener(resolved('bafyreview0000000001', { text: 'private words here' }, { words: 3 }, 1000))
    await until(async () => await ay.find('word-count', '1.0.0', { text: 'private words here' }) != null)
    expect(bx.published).to.have.length(1)
    expect(bx.published[0].topic).to.equal(TEST_TEAM_TOPIC)
    expect(JSON.stringify(bx.published[0].body)).to.not.include('private words')
    const got = await ay.find('word-count', '1.9.0', { text: 'private words here' })
    expect(got).to.deep.include({ output: { words: 3 }, review: 'bafyreview0000000001', resolvedBy: 'user:ada', sharedBy: 'X' })
    // Y does not share it again (X did)
    expect(by.published).to.have.length(0)
    // never across majors
    expect(await ay.find('word-count', '2.0.0', { text: 'private words here' })).to.equal(undefined)
  })

  it('a withdrawal on X stops Y from using the answer', async () => {
    ax.listener(resolved('bafyreview0000000002', { text: 'a b' }, { words: 2 }, 1000))
    await until(async () => await ay.find('word-count', '1.0.0', { text: 'a b' }) != null)
    expect(await ay.find('word-count', '1.0.0', { text: 'a b' })).to.not.equal(undefined)
    await ax.withdraw('bafyreview0000000002', 'user:ada')
    await until(async () => await ay.find('word-count', '1.0.0', { text: 'a b' }) == null)
    expect(await ay.find('word-count', '1.0.0', { text: 'a b' })).to.equal(undefined)
    expect((await ay.byReview('bafyreview0000000002'))?.withdrawn).to.deep.include({ by: 'user:ada' })
  })

  it('keeps the newer answer, and refuses a partner\'s node', async () => {
    ay.listener(resolved('bafyreview0000000004', { text: 'n' }, { words: 9 }, 5000))
    await until(async () => await ax.find('word-count', '1.0.0', { text: 'n' }) != null)
    const older = { ...by.published[0].body, review: 'bafyreview0000000003', output: { words: 1 }, at: 10 }
    expect(await ax.adopt(older, 'Z')).to.equal(false)
    expect((await ax.find('word-count', '1.0.0', { text: 'n' }))?.output).to.deep.equal({ words: 9 })
    let refused: unknown
    try { await by.deliver({ ...older, at: 99_999 }, 'P', false) } catch (err) { refused = err }
    expect(refused).to.be.instanceOf(GossipActionError)
    expect((refused as GossipActionError).reason).to.equal('not-granted')
    expect((await ay.find('word-count', '1.0.0', { text: 'n' }))?.output).to.deep.equal({ words: 9 })
  })

  it('the message type is carried on the team topic only', () => {
    expect(learnedAnswer.topic).to.equal('')
    expect(learnedAnswer.teamScoped).to.equal(true)
  })
})
