import { createHash } from 'node:crypto'
import type { Release } from '../../../../protocol/index.js'
import type { IndexEntry } from '../../../../skills/index/index.js'

/** Index entries for unit tests: releases with the fields the index reads (no real signatures). */
export function release (name: string, version: string, author = 'z6MkAlice', cid = fakeCid(`${name}${version}${author}`)): Release {
  return { name, version, cid, size: 100, author, publishedAt: 0, manifestDigest: '00', signature: 'sig' }
}

export function entry (name: string, version: string, manifest: Record<string, unknown> = {}, author?: string): IndexEntry {
  return { release: release(name, version, author), manifest, indexedAt: 0, announcer: 'peer' }
}

/** A distinct text shaped like a CID (base32, `b…`) that names no real bundle. */
function fakeCid (seed: string): string {
  return 'b' + [...createHash('sha256').update(seed).digest('hex')].map(h => String.fromCharCode(97 + parseInt(h, 16))).join('')
}
