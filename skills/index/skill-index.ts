import semver from 'semver'
import { decodeCanonical, encodeCanonical, GossipAction, GossipActionError, RejectCode, type Release, type SkillReleaseBody } from '../../protocol/index.js'
import { manifestSchemasProblem } from '../manifest/index.js'
import { IndexCorruptError } from './errors.js'
import { searchEntries, type SearchFilter, type SearchHit } from './search.js'

/**
 * Every skill release this node has accepted, by name, author and version (kept in the
 * node's store, with an in-memory copy for search). Admission is the node-dependent half of
 * validation: the author must be trusted, a name+author never goes back to an older version,
 * and one name+version+author never names two contents.
 */
export interface IndexEntry {
  release: Release
  manifest: Record<string, unknown>
  /** ms, when this node accepted it. */
  indexedAt: number
  /** Peer id that announced it to us (or our own, for a local publish). */
  announcer: string
  /** The author's membership certificate it came with (base64url), checked again at load. */
  authorCert?: string
}

export type Admission = 'new' | 'duplicate'

/**
 * The key-value store the index keeps its entries in: string keys, byte values, read back in
 * key order. The node hands it one LevelDB sublevel.
 */
export interface IndexStore {
  put (key: string, value: Uint8Array): Promise<void>
  iterator (range: { gte: string, lt: string }): AsyncIterable<[string, Uint8Array]>
}

/** Which authors' releases this node accepts (the node's trust policy). */
export interface AuthorTrust {
  trustsAuthor (author: string): boolean
  /** 0 the node's own team's author, 1 a partner's (names resolve to the closest first). */
  rank?: (author: string) => number | undefined
  /** The team name an author was certified by (for `team/name` references). */
  teamOf?: (author: string) => string | undefined
}

export interface SkillIndexComponents {
  store: IndexStore
  trust: AuthorTrust
}

export interface SkillIndexInit {
  /** The clock stamped on new entries (`indexedAt`). */
  now?: () => number
}

const PREFIX = 'rel!'
const key = (r: Pick<Release, 'name' | 'author' | 'version'>): string => `${PREFIX}${r.name}!${r.author}!${r.version}`

export class SkillIndex {
  private readonly entries = new Map<string, IndexEntry>()
  private readonly byCid = new Map<string, IndexEntry>()
  private readonly now: () => number

  constructor (private readonly c: SkillIndexComponents, init: SkillIndexInit = {}) {
    this.now = init.now ?? Date.now
  }

  /** Reads every stored entry into memory; throws IndexCorruptError on one that does not decode. */
  async load (): Promise<void> {
    for await (const [k, value] of this.c.store.iterator({ gte: PREFIX, lt: `${PREFIX}\xff` })) {
      let e: IndexEntry
      try {
        e = decodeCanonical(value) as IndexEntry
      } catch (err) {
        throw new IndexCorruptError(k, { cause: err })
      }
      this.remember(e)
    }
  }

  private remember (e: IndexEntry): void {
    this.entries.set(key(e.release), e)
    this.byCid.set(e.release.cid, e)
  }

  get size (): number {
    return this.entries.size
  }

  /**
   * Whether a (signature-checked) release may enter the index: throws GossipActionError
   * IGNORE `untrusted-author` / `rollback`, REJECT `conflict` / `unsafe-schema`; `duplicate` when already in.
   */
  admit (body: SkillReleaseBody): Admission {
    const r = body.release
    if (!this.c.trust.trustsAuthor(r.author)) throw new GossipActionError(GossipAction.IGNORE, RejectCode.UNTRUSTED_AUTHOR, `author ${r.author} is not trusted by this node`)
    const same = this.entries.get(key(r))
    if (same != null) {
      if (same.release.cid === r.cid) return 'duplicate'
      throw new GossipActionError(GossipAction.REJECT, RejectCode.CONFLICT, `${r.name}@${r.version} by ${r.author} is already ${same.release.cid}, not ${r.cid}`)
    }
    const newest = this.versions(r.name, r.author)[0]
    if (newest != null && semver.gt(newest.release.version, r.version)) {
      throw new GossipActionError(GossipAction.IGNORE, RejectCode.ROLLBACK, `${r.name} by ${r.author} is already at ${newest.release.version}; ${r.version} would roll it back`)
    }
    // its schemas are compiled as a submission's input will be checked: a pattern RE2 cannot run
    // or an unbounded quadratic check is refused here, not at the first task (last: it compiles)
    const unsafe = manifestSchemasProblem(body.manifest)
    if (unsafe != null) throw new GossipActionError(GossipAction.REJECT, RejectCode.UNSAFE_SCHEMA, `${r.name}@${r.version}: ${unsafe}`)
    return 'new'
  }

  async add (body: SkillReleaseBody, announcer: string): Promise<Admission> {
    const admission = this.admit(body)
    if (admission === 'duplicate') return admission
    const e: IndexEntry = { release: body.release, manifest: body.manifest, indexedAt: this.now(), announcer, ...(body.authorCert != null ? { authorCert: body.authorCert } : {}) }
    await this.c.store.put(key(e.release), encodeCanonical(e))
    this.remember(e)
    return admission
  }

  /** Releases of one name (and author), newest first. */
  versions (name: string, author?: string): IndexEntry[] {
    return this.all()
      .filter(e => e.release.name === name && (author == null || e.release.author === author))
      .sort((a, b) => semver.rcompare(a.release.version, b.release.version))
  }

  byContent (cid: string): IndexEntry | undefined {
    const e = this.byCid.get(cid)
    return e != null && this.c.trust.trustsAuthor(e.release.author) ? e : undefined
  }

  /**
   * `NAME`, `NAME@RANGE`, `AUTHOR/NAME[@RANGE]` (an author key z6Mk…), `TEAM/NAME[@RANGE]` (a
   * team name: its certified authors) or a CID. A bare name resolves among the closest authors
   * that have a match — this node's own team's before any partner's — then the highest version:
   * a partner's release never shadows a team skill of the same name.
   */
  resolve (ref: string): IndexEntry | undefined {
    if (/^b[a-z2-7]{20,}$/.test(ref)) {
      // a name may look like a CID (bibliographyformatter): try both
      const e = this.byContent(ref)
      if (e != null) return e
    }
    const at = ref.lastIndexOf('@')
    let name = at > 0 ? ref.slice(0, at) : ref
    const range = at > 0 ? ref.slice(at + 1) : '*'
    if (semver.validRange(range) == null) return undefined
    let who: ((author: string) => boolean) | undefined
    const slash = name.indexOf('/')
    if (slash > 0) {
      const scope = name.slice(0, slash)
      name = name.slice(slash + 1)
      who = scope.startsWith('z6Mk') ? (a) => a === scope : (a) => this.c.trust.teamOf?.(a) === scope
    }
    const matches = this.versions(name).filter(e => (who == null || who(e.release.author)) && semver.satisfies(e.release.version, range, { includePrerelease: false }))
    const rank = (e: IndexEntry): number => this.c.trust.rank?.(e.release.author) ?? 0
    const closest = Math.min(...matches.map(rank))
    return matches.find(e => rank(e) === closest)
  }

  /** Every entry, trusted or not (to check authors' certificates again at start). */
  everyEntry (): IndexEntry[] {
    return [...this.entries.values()]
  }

  /** Every entry by a trusted author (trust can change while the node runs). */
  all (): IndexEntry[] {
    return [...this.entries.values()].filter(e => this.c.trust.trustsAuthor(e.release.author))
  }

  /** Latest version per name+author, ranked against the query words, tags and category. */
  search (query: string, filter: SearchFilter = {}): SearchHit[] {
    return searchEntries(this.all(), query, filter)
  }
}
