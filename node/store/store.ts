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
  executor = 'exec'
}

export const SCHEMA_VERSION = 1
const SCHEMA_KEY = `${Bucket.meta}!schema`

export type Db = Level<string, Uint8Array>

export class NodeStore {
  readonly db: Db
  readonly path: string

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
    return this.db.sublevel<string, Uint8Array>(bucket, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Db
  }

  async close (): Promise<void> {
    if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close()
  }
}
