import semver from 'semver'
import { decodeCanonical, encodeCanonical, GossipAction, GossipActionError, RejectCode, type Release, type SkillReleaseBody } from '../../protocol/index.js'
import type { TrustPolicy } from '../../federation/trust.js'
import type { Db } from '../store/index.js'

/**
 * Every skill release this node has accepted, by name, author and version (LevelDB, with an
 * in-memory copy for search). Admission is the node-dependent half of validation: the author
 * must be trusted, a name+author never goes back to an older version, and one name+version+
 * author never names two contents. Search ranks by name, tags, category and description.
 */
export interface IndexEntry {
  release: Release
  manifest: Record<string, unknown>
  /** ms, when this node accepted it. */
  indexedAt: number
  /** Peer id that announced it to us (or our own, for a local publish). */
  announcer: string
}

export interface SearchHit {
  name: string
  version: string
  cid: string
  author: string
  description: string
  category: string | null
  tags: string[]
  score: number
}

export type Admission = 'new' | 'duplicate'

const key = (r: Pick<Release, 'name' | 'author' | 'version'>): string => `rel!${r.name}!${r.author}!${r.version}`

export class SkillIndex {
  private readonly entries = new Map<string, IndexEntry>()
  private readonly byCid = new Map<string, IndexEntry>()

  constructor (private readonly db: Db, private readonly trust: TrustPolicy) {}

  async load (): Promise<void> {
    for await (const [, value] of this.db.iterator({ gte: 'rel!', lt: 'rel!\xff' })) {
      const e = decodeCanonical(value) as IndexEntry
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
   * IGNORE `untrusted-author` / `rollback`, REJECT `conflict`; `duplicate` when already in.
   */
  admit (body: SkillReleaseBody): Admission {
    const r = body.release
    if (!this.trust.trustsAuthor(r.author)) throw new GossipActionError(GossipAction.IGNORE, RejectCode.UNTRUSTED_AUTHOR, `author ${r.author} is not trusted by this node`)
    const same = this.entries.get(key(r))
    if (same != null) {
      if (same.release.cid === r.cid) return 'duplicate'
      throw new GossipActionError(GossipAction.REJECT, RejectCode.CONFLICT, `${r.name}@${r.version} by ${r.author} is already ${same.release.cid}, not ${r.cid}`)
    }
    const newest = this.versions(r.name, r.author)[0]
    if (newest != null && semver.gt(newest.release.version, r.version)) {
      throw new GossipActionError(GossipAction.IGNORE, RejectCode.ROLLBACK, `${r.name} by ${r.author} is already at ${newest.release.version}; ${r.version} would roll it back`)
    }
    return 'new'
  }

  async add (body: SkillReleaseBody, announcer: string): Promise<Admission> {
    const admission = this.admit(body)
    if (admission === 'duplicate') return admission
    const e: IndexEntry = { release: body.release, manifest: body.manifest, indexedAt: Date.now(), announcer }
    await this.db.put(key(e.release), encodeCanonical(e))
    this.remember(e)
    return admission
  }

  /** Releases of one name (and author), newest first. */
  versions (name: string, author?: string): IndexEntry[] {
    return [...this.entries.values()]
      .filter(e => e.release.name === name && (author == null || e.release.author === author) && this.trust.trustsAuthor(e.release.author))
      .sort((a, b) => semver.rcompare(a.release.version, b.release.version))
  }

  byContent (cid: string): IndexEntry | undefined {
    const e = this.byCid.get(cid)
    return e != null && this.trust.trustsAuthor(e.release.author) ? e : undefined
  }

  /** `NAME`, `NAME@RANGE` (highest trusted match) or a CID. */
  resolve (ref: string): IndexEntry | undefined {
    if (/^b[a-z2-7]{20,}$/.test(ref)) {
      // a name may look like a CID (bibliographyformatter): try both
      const e = this.byContent(ref)
      if (e != null) return e
    }
    const at = ref.lastIndexOf('@')
    const name = at > 0 ? ref.slice(0, at) : ref
    const range = at > 0 ? ref.slice(at + 1) : '*'
    if (semver.validRange(range) == null) return undefined
    return this.versions(name).find(e => semver.satisfies(e.release.version, range, { includePrerelease: false }))
  }

  all (): IndexEntry[] {
    return [...this.entries.values()].filter(e => this.trust.trustsAuthor(e.release.author))
  }

  /** Latest version per name+author, ranked against the query words, tags and category. */
  search (query: string, filter: { tag?: string, category?: string } = {}): SearchHit[] {
    const words = query.toLowerCase().split(/[^a-z0-9]+/).filter(w => w !== '')
    const latest = new Map<string, IndexEntry>()
    for (const e of this.all()) {
      const k = `${e.release.name}!${e.release.author}`
      const have = latest.get(k)
      if (have == null || semver.gt(e.release.version, have.release.version)) latest.set(k, e)
    }
    const hits: SearchHit[] = []
    for (const e of latest.values()) {
      const m = e.manifest
      const name = e.release.name
      const tags = Array.isArray(m.tags) ? (m.tags as unknown[]).map(String) : []
      const category = typeof m.category === 'string' ? m.category : null
      const description = typeof m.description === 'string' ? m.description : ''
      if (filter.tag != null && !tags.includes(filter.tag)) continue
      if (filter.category != null && category !== filter.category) continue
      let score = words.length === 0 ? 1 : 0
      const desc = description.toLowerCase()
      for (const w of words) {
        if (name === w) score += 10
        else if (name.split('-').includes(w)) score += 6
        else if (name.includes(w)) score += 4
        if (tags.some(t => t.toLowerCase() === w)) score += 5
        if (category?.toLowerCase() === w) score += 3
        if (new RegExp(`\\b${w}`).test(desc)) score += 2
      }
      if (score === 0) continue
      hits.push({ name, version: e.release.version, cid: e.release.cid, author: e.release.author, description, category, tags, score })
    }
    return hits.sort((a, b) => b.score - a.score || a.name.localeCompare(b.name))
  }
}
