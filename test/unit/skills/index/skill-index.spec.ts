import { expect } from 'chai'
import { encodeCanonical, GossipAction, RejectCode } from '../../../../protocol/index.js'
import { IndexErrorCode, SkillIndex, type AuthorTrust, type IndexStore } from '../../../../skills/index/index.js'
import { refusal } from '../../../utils/refusal.js'
import { release } from './entries.js'

/**
 * The index admits a release only from a trusted author, never rolls a name+author back and
 * never lets one name+version+author name two contents; entries survive a reload from its
 * store, carry the injected clock's time, and are hidden when their author stops being trusted.
 */
class MapStore implements IndexStore {
  readonly map = new Map<string, Uint8Array>()
  async put (key: string, value: Uint8Array): Promise<void> { this.map.set(key, value) }
  async * iterator (range: { gte: string, lt: string }): AsyncIterable<[string, Uint8Array]> {
    for (const k of [...this.map.keys()].sort()) if (k >= range.gte && k < range.lt) yield [k, this.map.get(k)!]
  }
}

class SetTrust implements AuthorTrust {
  constructor (readonly authors = new Set(['z6MkAlice', 'z6MkBob'])) {}
  trustsAuthor (author: string): boolean { return this.authors.has(author) }
}

const body = (name: string, version: string, author?: string, cid?: string): { release: ReturnType<typeof release>, manifest: Record<string, unknown> } =>
  ({ release: release(name, version, author, cid), manifest: { name, version } })

describe('skills/index: admission, resolve and reload', function () {
  let store: MapStore
  let trust: SetTrust
  let index: SkillIndex
  let clock: number

  beforeEach(() => {
    store = new MapStore()
    trust = new SetTrust()
    clock = 1_000
    index = new SkillIndex({ store, trust }, { now: () => clock })
  })

  it('stamps new entries with the injected clock and reloads them from the store', async () => {
    expect(await index.add(body('csv', '1.0.0'), 'peerA')).to.equal('new')
    clock = 2_000
    expect(await index.add(body('csv', '1.1.0'), 'peerB')).to.equal('new')
    expect(await index.add(body('csv', '1.1.0'), 'peerC')).to.equal('duplicate')
    const again = new SkillIndex({ store, trust })
    await again.load()
    expect(again.size).to.equal(2)
    expect(again.versions('csv').map(e => [e.release.version, e.indexedAt, e.announcer])).to.deep.equal([['1.1.0', 2_000, 'peerB'], ['1.0.0', 1_000, 'peerA']])
  })

  it('refuses untrusted authors, rollbacks and conflicting content with their codes', async () => {
    await index.add(body('csv', '1.1.0'), 'peer')
    const untrusted = await refusal(Promise.resolve().then(() => index.admit(body('csv', '2.0.0', 'z6MkMallory'))))
    expect([untrusted.name, untrusted.action, untrusted.reason]).to.deep.equal(['GossipActionError', GossipAction.IGNORE, RejectCode.UNTRUSTED_AUTHOR])
    const rollback = await refusal(index.add(body('csv', '1.0.0'), 'peer'))
    expect([rollback.name, rollback.action, rollback.reason]).to.deep.equal(['GossipActionError', GossipAction.IGNORE, RejectCode.ROLLBACK])
    const conflict = await refusal(index.add(body('csv', '1.1.0', undefined, 'bothercontentaaaaaaaaaaaaaaaa'), 'peer'))
    expect([conflict.name, conflict.action, conflict.reason]).to.deep.equal(['GossipActionError', GossipAction.REJECT, RejectCode.CONFLICT])
    // another author's older version is no rollback
    expect(index.admit(body('csv', '0.1.0', 'z6MkBob'))).to.equal('new')
    expect(store.map.size).to.equal(1)
  })

  it('refuses a release whose own schemas the node will not compile (unsafe-schema), storing nothing', async () => {
    const b = body('redos', '1.0.0')
    b.manifest.inputSchema = { type: 'string', pattern: '(a)\\1' }
    const err = await refusal(index.add(b, 'peer'))
    expect(err.name).to.equal('GossipActionError')
    expect(err.action).to.equal(GossipAction.REJECT)
    expect(err.reason).to.equal(RejectCode.UNSAFE_SCHEMA)
    expect(index.size).to.equal(0)
    expect(store.map.size).to.equal(0)
  })

  it('resolves a name, a name@range and a CID to the highest trusted match', async () => {
    for (const v of ['1.0.0', '1.2.0', '2.0.0']) await index.add(body('csv', v), 'peer')
    expect(index.resolve('csv')?.release.version).to.equal('2.0.0')
    expect(index.resolve('csv@^1')?.release.version).to.equal('1.2.0')
    expect(index.resolve('csv@~1.0')?.release.version).to.equal('1.0.0')
    expect(index.resolve('csv@not a range')).to.equal(undefined)
    const cid = index.resolve('csv@1.2.0')!.release.cid
    expect(index.resolve(cid)?.release.version).to.equal('1.2.0')
  })

  it('hides the entries of an author it no longer trusts', async () => {
    await index.add(body('csv', '1.0.0', 'z6MkBob'), 'peer')
    const cid = index.resolve('csv')!.release.cid
    trust.authors.delete('z6MkBob')
    expect(index.resolve('csv')).to.equal(undefined)
    expect(index.byContent(cid)).to.equal(undefined)
    expect(index.search('csv')).to.deep.equal([])
    expect(index.size).to.equal(1)
  })

  it('refuses to load an entry that does not decode (IndexCorruptError)', async () => {
    store.map.set('rel!csv!z6MkAlice!1.0.0', Uint8Array.of(0xff, 0x00))
    store.map.set('other!key', encodeCanonical({ not: 'an entry' }))
    const err = await refusal(index.load())
    expect([err.name, err.code, err.key]).to.deep.equal(['IndexCorruptError', IndexErrorCode.CORRUPT, 'rel!csv!z6MkAlice!1.0.0'])
  })
})
