import { Level } from 'level'
import { join } from 'node:path'
import { DataDirError } from '../errors.js'

/**
 * The node's LevelDB. Every part keeps its records under its own key prefix (Lodestar
 * `db/buckets.ts`), so one database and one lock serve the whole node. A schema version key
 * is checked at open, so an older release never misreads data a newer one wrote.
 * LevelDB's own LOCK file makes a second node on the same data dir fail at open.
 */
export enum Bucket {
  meta = 'meta',
  tasks = 'task',
  skills = 'skill',
  memory = 'mem',
  /** Results an executor still has to deliver. */
  executor = 'exec',
  /** The audit trail: entries by seq, checkpoints. */
  audit = 'audit',
  /** People who may log in (node/auth): password hashes, TOTP secrets. */
  users = 'user',
  /** Login sessions, by the hash of their id. */
  sessions = 'sess',
  /** Answers reviewers allowed to be reused (node/improve). */
  learned = 'learn',
  /** Revocations of team keys this node learned (node/team). */
  team = 'team'
}

/** One operation of a batch that spans buckets. */
export type StoreOp =
  | { type: 'put', bucket: Bucket, key: string, value: Uint8Array }
  | { type: 'del', bucket: Bucket, key: string }

export interface WriteOptions {
  /** Wait for the disk (fsync): for writes a crash must not lose (acceptance, terminal states). */
  sync?: boolean
}

export const SCHEMA_VERSION = 1
const SCHEMA_KEY = `${Bucket.meta}!schema`

export type Db = Level<string, Uint8Array>

export class NodeStore {
  readonly db: Db
  readonly path: string
  private readonly buckets = new Map<Bucket, Db>()
  /** Batches are written one after another, in the order they were asked for. */
  private writing: Promise<unknown> = Promise.resolve()

  constructor (dataDir: string) {
    this.path = join(dataDir, 'db')
    this.db = new Level<string, Uint8Array>(this.path, { keyEncoding: 'utf8', valueEncoding: 'view' })
  }

  async open (): Promise<void> {
    try {
      await this.db.open()
    } catch (err: any) {
      const cause = err.cause?.code ?? err.code
      if (cause === 'LEVEL_LOCKED') {
        throw new DataDirError(`data dir ${this.path.replace(/\/db$/, '')} is in use by another running node: stop that node or choose another with --data`, 'ERR_DATA_DIR_LOCKED')
      }
      throw new DataDirError(`cannot open the database in ${this.path}: ${err.cause?.message ?? err.message}`, 'ERR_DATA_DIR')
    }
    const stored = await this.db.get(SCHEMA_KEY)
    const version = stored === undefined ? undefined : Number(new TextDecoder().decode(stored))
    if (version === undefined) {
      await this.db.put(SCHEMA_KEY, new TextEncoder().encode(String(SCHEMA_VERSION)))
    } else if (version !== SCHEMA_VERSION) {
      await this.db.close()
      throw new DataDirError(`the database in ${this.path} has schema version ${version}; this AAS reads version ${SCHEMA_VERSION}`, 'ERR_DATA_DIR_VERSION')
    }
  }

  /** A view of one bucket: keys are prefixed with `bucket!`. */
  sublevel (bucket: Bucket): Db {
    let sub = this.buckets.get(bucket)
    if (sub == null) {
      sub = this.db.sublevel<string, Uint8Array>(bucket, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Db
      this.buckets.set(bucket, sub)
    }
    return sub
  }

  /**
   * Writes operations on several buckets as one LevelDB batch: all or none. Batches are
   * queued at the call, synchronously, so two writes land in the order they were asked for
   * (the audit chain relies on it: entry n+1 is never on disk without entry n).
   */
  async write (ops: StoreOp[], options: WriteOptions = {}): Promise<void> {
    const batch = ops.map(op => op.type === 'put'
      ? { type: 'put' as const, sublevel: this.sublevel(op.bucket) as any, key: op.key, value: op.value }
      : { type: 'del' as const, sublevel: this.sublevel(op.bucket) as any, key: op.key })
    const run = this.writing.then(async () => { await this.db.batch(batch, { sync: options.sync === true } as any) })
    this.writing = run.catch(() => {})
    await run
  }

  async close (): Promise<void> {
    if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close()
  }
}
