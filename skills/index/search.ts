import semver from 'semver'
import type { IndexEntry } from './skill-index.js'

/**
 * Search over index entries: the latest version per name+author, ranked against the query's
 * words. A word scores most as the whole name, then as one of its dash-separated parts, then
 * inside it; then as a tag, the category, and a word start in the description. An empty
 * query lists everything (score 1). Ties go by name.
 */
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

export interface SearchFilter {
  tag?: string
  category?: string
}

/** Points a query word earns where it matches (see the ranking above). */
export const SearchScore = {
  NAME: 10,
  NAME_PART: 6,
  IN_NAME: 4,
  TAG: 5,
  CATEGORY: 3,
  DESCRIPTION: 2
} as const

export function searchEntries (entries: Iterable<IndexEntry>, query: string, filter: SearchFilter = {}): SearchHit[] {
  const words = query.toLowerCase().split(/[^a-z0-9]+/).filter(w => w !== '')
  const hits: SearchHit[] = []
  for (const e of latestPerAuthor(entries)) {
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
      if (name === w) score += SearchScore.NAME
      else if (name.split('-').includes(w)) score += SearchScore.NAME_PART
      else if (name.includes(w)) score += SearchScore.IN_NAME
      if (tags.some(t => t.toLowerCase() === w)) score += SearchScore.TAG
      if (category?.toLowerCase() === w) score += SearchScore.CATEGORY
      if (new RegExp(`\\b${w}`).test(desc)) score += SearchScore.DESCRIPTION
    }
    if (score === 0) continue
    hits.push({ name, version: e.release.version, cid: e.release.cid, author: e.release.author, description, category, tags, score })
  }
  return hits.sort((a, b) => b.score - a.score || a.name.localeCompare(b.name))
}

function latestPerAuthor (entries: Iterable<IndexEntry>): Iterable<IndexEntry> {
  const latest = new Map<string, IndexEntry>()
  for (const e of entries) {
    const k = `${e.release.name}!${e.release.author}`
    const have = latest.get(k)
    if (have == null || semver.gt(e.release.version, have.release.version)) latest.set(k, e)
  }
  return latest.values()
}
