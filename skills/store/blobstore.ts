import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { BlobError } from './errors.js'
import { BundleHasher, bundleCid, parseBundleCid } from '../bundle/cid.js'
import { extractBundle, rmTree } from '../bundle/extract.js'
import type { Manifest } from '../manifest/index.js'

/**
 * The content-addressed blob store of verified bundles: `blobs/<cid>` files, written through a
 * temp file that is hashed as it is written and renamed into place only when its hash is the
 * CID (so a crash or a lying peer leaves no partial or corrupt blob), and hashed again when
 * read. Unpacked copies for the sandbox live in `skills/<cid>/`, made from verified bytes.
 */
export class BlobStore {
  readonly blobs: string
  readonly unpacked: string
  private readonly tmp: string

  constructor (readonly dir: string) {
    this.blobs = join(dir, 'blobs')
    this.unpacked = join(dir, 'skills')
    this.tmp = join(dir, 'blobs', '.tmp')
  }

  /** Makes the folders and removes temp files a crash left behind. */
  async open (): Promise<void> {
    await mkdir(this.tmp, { recursive: true, mode: 0o700 })
    await mkdir(this.unpacked, { recursive: true, mode: 0o755 })
    for (const f of await readdir(this.tmp)) await unlink(join(this.tmp, f)).catch(() => {})
    for (const f of await readdir(this.unpacked)) if (f.startsWith('.tmp-')) await rmTree(join(this.unpacked, f))
  }

  path (cid: CID | string): string {
    return join(this.blobs, parseBundleCid(cid.toString()).toString())
  }

  async has (cid: CID | string): Promise<boolean> {
    return (await stat(this.path(cid)).catch(() => null))?.isFile() === true
  }

  /** Stores bytes whose CID must be `cid`. */
  async put (cid: CID | string, bytes: Uint8Array): Promise<void> {
    const w = await this.writer(cid, bytes.length)
    try {
      await w.write(bytes)
      await w.commit()
    } finally {
      await w.abort()
    }
  }

  /**
   * A writer for bytes arriving in chunks: each chunk is hashed and appended to a temp file;
   * `commit` renames it into place only if the total hashes to `cid`; `abort` removes it.
   */
  async writer (cid: CID | string, maxBytes: number): Promise<BlobWriter> {
    const want = parseBundleCid(cid.toString())
    const tmp = join(this.tmp, `${want.toString()}.${randomBytes(6).toString('hex')}`)
    const fh = await open(tmp, 'wx', 0o644)
    return new BlobWriter(fh, tmp, this.path(want), want, maxBytes)
  }

  /** The bytes of a blob, hashed again: a blob damaged on disk is removed and reported missing. */
  async get (cid: CID | string): Promise<Uint8Array> {
    const path = this.path(cid)
    let bytes: Uint8Array
    try {
      bytes = await readFile(path)
    } catch {
      throw new BlobError(`bundle ${cid.toString()} is not in the local store`, 'ERR_BLOB_MISSING')
    }
    if (bundleCid(bytes).toString() !== parseBundleCid(cid.toString()).toString()) {
      await unlink(path).catch(() => {})
      throw new BlobError(`bundle ${cid.toString()} in the local store is damaged (hash mismatch); it was removed, fetch it again`, 'ERR_CID_MISMATCH')
    }
    return bytes
  }

  /**
   * The bytes of a blob as chunks, for serving: read while they are sent, hashed on the way.
   * A blob found damaged at the end is removed (the receiver verifies the CID itself and
   * refuses it, so nothing bad spreads); returns its size first.
   */
  async openStream (cid: CID | string, chunkBytes: number): Promise<{ size: number, chunks: AsyncGenerator<Uint8Array> } | undefined> {
    const path = this.path(cid)
    const want = parseBundleCid(cid.toString()).toString()
    let fh: FileHandle
    try {
      fh = await open(path, 'r')
    } catch { return undefined }
    const size = (await fh.stat()).size
    const read = async (at: number): Promise<Buffer> => {
      const buf = Buffer.allocUnsafe(Math.min(chunkBytes, size - at))
      const { bytesRead } = await fh.read(buf, 0, buf.length, at)
      return buf.subarray(0, bytesRead)
    }
    const chunks = async function * (): AsyncGenerator<Uint8Array> {
      const hasher = new BundleHasher()
      try {
        // one read ahead: the disk works while the previous chunk is sent
        let next = size > 0 ? read(0) : undefined
        for (let at = 0; next != null;) {
          const chunk = await next
          if (chunk.length === 0) break
          at += chunk.length
          next = at < size ? read(at) : undefined
          hasher.update(chunk)
          yield chunk
        }
      } finally {
        await fh.close()
      }
      if (hasher.cid().toString() !== want) {
        await unlink(path).catch(() => {})
        throw new BlobError(`bundle ${want} in the local store is damaged (hash mismatch); it was removed`, 'ERR_CID_MISMATCH')
      }
    }
    return { size, chunks: chunks() }
  }

  /** A read-only unpacked folder of a verified bundle, for the sandbox. */
  async unpack (cid: CID | string): Promise<{ dir: string, manifest: Manifest }> {
    const dir = join(this.unpacked, parseBundleCid(cid.toString()).toString())
    const manifest = await extractBundle(await this.get(cid), dir)
    return { dir, manifest }
  }

  async delete (cid: CID | string): Promise<void> {
    await rm(this.path(cid), { force: true })
    await rmTree(join(this.unpacked, parseBundleCid(cid.toString()).toString()))
  }
}

/** Bytes a writer may hold queued for the disk before the caller waits. */
const WRITE_BACKLOG = 4 * 1024 * 1024

export class BlobWriter {
  private readonly hasher = new BundleHasher()
  private done = false
  private writes: Promise<void> = Promise.resolve()
  private queued = 0

  constructor (private readonly fh: FileHandle, private readonly tmp: string, private readonly dest: string, private readonly cid: CID, private readonly maxBytes: number) {}

  get bytes (): number {
    return this.hasher.bytes
  }

  /**
   * Hashes the chunk and queues its write: writes go out in order while the next chunks
   * arrive, and the caller waits only when more than WRITE_BACKLOG bytes are queued.
   */
  async write (chunk: Uint8Array): Promise<void> {
    if (this.hasher.bytes + chunk.length > this.maxBytes) throw new BlobError(`bundle ${this.cid.toString()} passes its ${this.maxBytes} byte limit`, 'ERR_BLOB_TOO_LARGE')
    this.hasher.update(chunk)
    this.queued += chunk.length
    // callers hand over the chunk (stream frames are fresh buffers): no copy
    this.writes = this.writes.then(async () => {
      await this.fh.write(chunk)
      this.queued -= chunk.length
    })
    if (this.queued > WRITE_BACKLOG) await this.writes
  }

  async commit (): Promise<void> {
    await this.writes
    const got = this.hasher.cid()
    if (got.toString() !== this.cid.toString()) throw new BlobError(`bytes hash to ${got.toString()}, not ${this.cid.toString()}`, 'ERR_CID_MISMATCH')
    await this.fh.sync()
    await this.fh.close()
    this.done = true
    await rename(this.tmp, this.dest)
  }

  /** Removes the temp file unless committed. Safe to call more than once. */
  async abort (): Promise<void> {
    if (this.done) return
    this.done = true
    await this.writes.catch(() => {})
    await this.fh.close().catch(() => {})
    await unlink(this.tmp).catch(() => {})
  }
}
