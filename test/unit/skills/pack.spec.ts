import { execFileSync } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { expect } from 'chai'
import fc from 'fast-check'
import * as dagCbor from '@ipld/dag-cbor'
import {
  BUNDLE_FORMAT, BundleError, bundleCid, decodeBundle, encodeBundle, packSkill, MODE_EXEC, MODE_FILE, type BundleLimits
} from '../../../skills/bundle/index.js'
import { ManifestError } from '../../../skills/manifest/index.js'
import { refusal } from '../../utils/refusal.js'

/**
 * Bundles are content-addressed: the same files (paths, bytes, +x) give the same bytes and
 * CID however, whenever and in whatever order they were written; one byte or one +x bit
 * more or less gives another CID. Folders that cannot be packed safely and bundle bytes that
 * break any rule of the format are refused with a code callers can branch on.
 */
const MANIFEST = { name: 'prop-skill', version: '1.0.0', description: 'property test skill', runtime: 'sh', entrypoint: 'main.sh' }
const ENTRY = '#!/bin/sh\ncat\n'

interface Entry { path: string, data: Uint8Array, exec: boolean }

async function temp (): Promise<string> {
  return await mkdtemp(join(tmpdir(), 'aas-pack-'))
}

function refuseSync (fn: () => unknown): any {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a refusal, got success')
}

/** A tiny seeded PRNG, so a failing case's creation order is reproducible from its seed. */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffle<T> (items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

/**
 * Writes the entries into `dir` in a shuffled order, with random mtimes/atimes and random
 * non-x permission bits (only +x may count). `variant` picks which of the equivalent modes.
 */
async function writeTree (dir: string, entries: Entry[], seed: number, variant: 0 | 1): Promise<void> {
  const random = rng(seed)
  const all: Entry[] = [
    ...entries,
    { path: 'skill.json', data: new TextEncoder().encode(JSON.stringify(MANIFEST)), exec: false },
    { path: 'main.sh', data: new TextEncoder().encode(ENTRY), exec: true }
  ]
  for (const e of shuffle(all, random)) {
    const at = join(dir, ...e.path.split('/'))
    await mkdir(dirname(at), { recursive: true })
    await writeFile(at, e.data)
    const mode = e.exec ? (variant === 0 ? 0o755 : 0o700) : (variant === 0 ? 0o644 : 0o600)
    await chmod(at, mode)
    const t = new Date(Math.floor(random() * 2_000_000_000) * 1000)
    await utimes(at, t, t)
  }
}

const segment = fc.stringMatching(/^[a-zA-Z0-9_-]{1,6}(\.[a-z]{1,3})?$/)
const entryArb = fc.record({
  parts: fc.array(segment, { minLength: 1, maxLength: 3 }),
  data: fc.uint8Array({ maxLength: 1500 }),
  exec: fc.boolean()
})

/** Drops paths that clash with the fixed files, repeat, or are both a file and a directory. */
function tree (raw: Array<{ parts: string[], data: Uint8Array, exec: boolean }>): Entry[] {
  const out: Entry[] = []
  const files = new Set<string>()
  const dirs = new Set<string>()
  for (const r of raw) {
    const path = r.parts.join('/')
    if (path === 'skill.json' || path === 'main.sh' || files.has(path) || dirs.has(path)) continue
    const prefixes = r.parts.slice(0, -1).map((_, i) => r.parts.slice(0, i + 1).join('/'))
    if (prefixes.some(p => files.has(p) || p === 'skill.json' || p === 'main.sh')) continue
    files.add(path)
    for (const p of prefixes) dirs.add(p)
    out.push({ path, data: r.data, exec: r.exec })
  }
  return out
}

describe('skills/bundle: packing', function () {
  this.timeout(120_000)

  it('is deterministic: same content in any order, with any times and non-x modes, gives the same bytes and CID; one byte or one +x bit changes it', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(entryArb, { minLength: 0, maxLength: 12 }), fc.integer(), fc.integer(), fc.nat(), fc.nat(),
      async (raw, seedA, seedB, pick, bytePick) => {
        const entries = tree(raw)
        const a = await temp()
        const b = await temp()
        try {
          await writeTree(a, entries, seedA, 0)
          await writeTree(b, entries, seedB, 1)
          const pa = await packSkill(a)
          const pb = await packSkill(b)
          expect(pb.cid.toString()).to.equal(pa.cid.toString())
          expect(Buffer.from(pb.bytes).equals(Buffer.from(pa.bytes))).to.equal(true)
          expect(pa.size).to.equal(pa.bytes.length)
          expect(bundleCid(pa.bytes).toString()).to.equal(pa.cid.toString())
          expect(pa.files.map(f => f.path)).to.deep.equal([...entries.map(e => e.path), 'main.sh', 'skill.json'].sort())

          // the bytes decode back to exactly the files written, +x as written
          const decoded = decodeBundle(pa.bytes)
          for (const e of entries) {
            const f = decoded.find(d => d.path === e.path)!
            expect(Buffer.from(f.data).equals(Buffer.from(e.data)), e.path).to.equal(true)
            expect(f.mode).to.equal(e.exec ? MODE_EXEC : MODE_FILE)
          }

          // one byte changed (or added, for an empty file) → another CID
          const all = [...entries.map(e => e.path), 'main.sh']
          const victim = all[pick % all.length]
          const file = join(b, ...victim.split('/'))
          const original = await readFile(file)
          const changed = Buffer.from(original)
          let mutated: Buffer
          if (changed.length === 0) mutated = Buffer.from([bytePick % 256])
          else { changed[bytePick % changed.length] ^= 1 + (bytePick % 255); mutated = changed }
          await writeFile(file, mutated)
          expect((await packSkill(b)).cid.toString()).to.not.equal(pa.cid.toString())
          await writeFile(file, original)
          expect((await packSkill(b)).cid.toString()).to.equal(pa.cid.toString())

          // the +x bit flipped → another CID
          const exec = victim === 'main.sh' || entries.find(e => e.path === victim)!.exec
          await chmod(file, exec ? 0o644 : 0o755)
          expect((await packSkill(b)).cid.toString()).to.not.equal(pa.cid.toString())
        } finally {
          await rm(a, { recursive: true, force: true })
          await rm(b, { recursive: true, force: true })
        }
      }
    ), { numRuns: 60 })
  })

  describe('refuses folders it cannot pack safely', () => {
    let dir: string
    beforeEach(async () => {
      dir = await temp()
      await writeFile(join(dir, 'skill.json'), JSON.stringify(MANIFEST))
      await writeFile(join(dir, 'main.sh'), ENTRY, { mode: 0o755 })
    })
    afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

    it('a symlink inside the folder (top level or nested): ERR_BUNDLE_SYMLINK', async () => {
      await symlink('main.sh', join(dir, 'link'))
      const err = await refusal(packSkill(dir))
      expect(err).to.be.instanceOf(BundleError)
      expect(err.code).to.equal('ERR_BUNDLE_SYMLINK')
      expect(err.message).to.match(/link/)

      await rm(join(dir, 'link'))
      await mkdir(join(dir, 'lib', 'deep'), { recursive: true })
      await symlink('/etc/passwd', join(dir, 'lib', 'deep', 'passwd'))
      const nested = await refusal(packSkill(dir))
      expect(nested).to.be.instanceOf(BundleError)
      expect(nested.code).to.equal('ERR_BUNDLE_SYMLINK')
      expect(nested.message).to.match(/passwd/)
    })

    it('a FIFO (special file): ERR_BUNDLE_SPECIAL', async () => {
      await mkdir(join(dir, 'sub'))
      execFileSync('mkfifo', [join(dir, 'sub', 'pipe')])
      const err = await refusal(packSkill(dir))
      expect(err, String(err)).to.be.instanceOf(BundleError)
      expect(err.code).to.equal('ERR_BUNDLE_SPECIAL')
      expect(err.message).to.match(/pipe/)
    })

    it('a file over the file limit: ERR_BUNDLE_TOO_LARGE naming the file', async () => {
      const limits: BundleLimits = { maxFileBytes: 1000, maxBundleBytes: 100_000, maxFiles: 100 }
      await writeFile(join(dir, 'big.bin'), Buffer.alloc(1001, 7))
      const err = await refusal(packSkill(dir, limits))
      expect(err).to.be.instanceOf(BundleError)
      expect(err.code).to.equal('ERR_BUNDLE_TOO_LARGE')
      expect(err.path).to.equal('big.bin')
      // exactly at the limit is fine
      await writeFile(join(dir, 'big.bin'), Buffer.alloc(1000, 7))
      expect((await packSkill(dir, limits)).files.map(f => f.path)).to.include('big.bin')
    })

    it('files that together pass the bundle limit, or too many files: ERR_BUNDLE_TOO_LARGE', async () => {
      for (let i = 0; i < 4; i++) await writeFile(join(dir, `part${i}.bin`), Buffer.alloc(900, i))
      const total = await refusal(packSkill(dir, { maxFileBytes: 1000, maxBundleBytes: 3000, maxFiles: 100 }))
      expect(total).to.be.instanceOf(BundleError)
      expect(total.code).to.equal('ERR_BUNDLE_TOO_LARGE')

      const count = await refusal(packSkill(dir, { maxFileBytes: 1000, maxBundleBytes: 100_000, maxFiles: 5 }))
      expect(count).to.be.instanceOf(BundleError)
      expect(count.code).to.equal('ERR_BUNDLE_TOO_LARGE')

      // the encoded bundle (files plus framing) may not pass the limit either
      const enc = refuseSync(() => encodeBundle([{ path: 'a', mode: MODE_FILE, data: new Uint8Array(100) }], { maxFileBytes: 1000, maxBundleBytes: 100, maxFiles: 10 }))
      expect(enc).to.be.instanceOf(BundleError)
      expect(enc.code).to.equal('ERR_BUNDLE_TOO_LARGE')
    })

    it('a manifest failing its schema: ManifestError ERR_MANIFEST_SCHEMA naming the field', async () => {
      await writeFile(join(dir, 'skill.json'), JSON.stringify({ ...MANIFEST, name: 'Not A Name' }))
      const err = await refusal(packSkill(dir))
      expect(err).to.be.instanceOf(ManifestError)
      expect(err.code).to.equal('ERR_MANIFEST_SCHEMA')
      expect(err.field).to.equal('name')

      await writeFile(join(dir, 'skill.json'), JSON.stringify({ ...MANIFEST, surprise: true }))
      const extra = await refusal(packSkill(dir))
      expect(extra).to.be.instanceOf(ManifestError)
      expect(extra.code).to.equal('ERR_MANIFEST_SCHEMA')
      expect(extra.field).to.equal('surprise')
    })
  })

  describe('decodeBundle refuses malformed or hostile bytes', () => {
    const data = new TextEncoder().encode('x')
    const doc = (files: unknown[], extra: Record<string, unknown> = {}): Uint8Array => dagCbor.encode({ format: BUNDLE_FORMAT, files, ...extra })
    const file = (path: string, mode: number = MODE_FILE, more: Record<string, unknown> = {}): Record<string, unknown> => ({ path, mode, data, ...more })
    const code = (bytes: Uint8Array): string => {
      const err = refuseSync(() => decodeBundle(bytes))
      expect(err, String(err)).to.be.instanceOf(BundleError)
      return err.code
    }

    it('accepts a well-formed bundle (the baseline the cases below break)', () => {
      const files = decodeBundle(doc([file('a/b'), file('a/c', MODE_EXEC), file('d')]))
      expect(files.map(f => [f.path, f.mode])).to.deep.equal([['a/b', MODE_FILE], ['a/c', MODE_EXEC], ['d', MODE_FILE]])
    })

    it('unsafe paths: ../x, a/../../x, absolute, empty part, backslash: ERR_BUNDLE_PATH', () => {
      for (const p of ['../x', 'a/../../x', '/etc/passwd', 'a//b', './x', 'a\\b', '']) {
        expect(code(doc([file(p)])), p).to.equal('ERR_BUNDLE_PATH')
      }
    })

    it('unsorted or repeated paths, and a path that is both file and directory: ERR_BUNDLE_FORMAT', () => {
      expect(code(doc([file('b'), file('a')]))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(doc([file('a'), file('a')]))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(doc([file('a'), file('a/b')]))).to.equal('ERR_BUNDLE_FORMAT')
    })

    it('modes other than 0644/0755: ERR_BUNDLE_FORMAT', () => {
      for (const m of [0o777, 0o4755, 0o600, 0o100644, -1, 420.5]) {
        expect(code(doc([file('a', m)])), m.toString(8)).to.equal('ERR_BUNDLE_FORMAT')
      }
      expect(code(doc([{ path: 'a', mode: '644', data }]))).to.equal('ERR_BUNDLE_FORMAT')
    })

    it('extra or missing fields, wrong types, wrong format tag: ERR_BUNDLE_FORMAT', () => {
      expect(code(doc([file('a')], { signature: 'x' }))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(doc([file('a', MODE_FILE, { mtime: 1 })]))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(doc([{ path: 'a', mode: MODE_FILE }]))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(doc([{ path: 'a', mode: MODE_FILE, data: 'text, not bytes' }]))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(doc([{ path: 7, mode: MODE_FILE, data }]))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(dagCbor.encode({ format: 'aas-bundle/2', files: [file('a')] }))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(dagCbor.encode({ format: BUNDLE_FORMAT, files: { a: file('a') } }))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(dagCbor.encode([BUNDLE_FORMAT, [file('a')]]))).to.equal('ERR_BUNDLE_FORMAT')
    })

    it('bytes that are not (canonical) CBOR: ERR_BUNDLE_FORMAT', () => {
      expect(code(new TextEncoder().encode('not cbor at all'))).to.equal('ERR_BUNDLE_FORMAT')
      expect(code(new Uint8Array(0))).to.equal('ERR_BUNDLE_FORMAT')
      const good = doc([file('a')])
      expect(code(good.subarray(0, good.length - 1))).to.equal('ERR_BUNDLE_FORMAT')
      // trailing garbage after a valid document
      expect(code(Uint8Array.from([...good, 0]))).to.equal('ERR_BUNDLE_FORMAT')
    })

    it('CBOR that is not canonical (map keys out of order): ERR_BUNDLE_FORMAT, so one content has one CID', () => {
      // canonical DAG-CBOR sorts "files" (5 bytes) before "format" (6 bytes); write them the other way round
      const swapped = Uint8Array.from([0xa2, ...dagCbor.encode('format'), ...dagCbor.encode(BUNDLE_FORMAT), ...dagCbor.encode('files'), ...dagCbor.encode([file('a')])])
      expect(Buffer.from(swapped).equals(Buffer.from(doc([file('a')])))).to.equal(false)
      expect(code(swapped)).to.equal('ERR_BUNDLE_FORMAT')
    })

    it('over the limits it is given: ERR_BUNDLE_TOO_LARGE', () => {
      const limits: BundleLimits = { maxBundleBytes: 10_000, maxFileBytes: 10, maxFiles: 2 }
      let err = refuseSync(() => decodeBundle(doc([{ path: 'a', mode: MODE_FILE, data: new Uint8Array(11) }]), limits))
      expect(err.code).to.equal('ERR_BUNDLE_TOO_LARGE')
      err = refuseSync(() => decodeBundle(doc([file('a'), file('b'), file('c')]), limits))
      expect(err.code).to.equal('ERR_BUNDLE_TOO_LARGE')
      err = refuseSync(() => decodeBundle(doc([file('a')]), { ...limits, maxBundleBytes: 10 }))
      expect(err.code).to.equal('ERR_BUNDLE_TOO_LARGE')
    })
  })
})
