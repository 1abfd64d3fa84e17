import { decodeCanonical, encodeCanonical } from '../../protocol/index.js'
import { Bucket, type Db, type StoreOp } from '../store/index.js'
import { isTerminal, type TaskRecord } from './types.js'

/**
 * Tasks by id in LevelDB (bucket `task`). Open tasks are also kept in memory (the origin's
 * working set); finished ones are read from disk on demand. The store never writes on its own:
 * the state machine puts `putOp(t)` in its batch and `cache(t)`s the record once written.
 * `undefined` values are dropped by DAG-CBOR, so records are stored with nulls.
 */
export class TaskStore {
  readonly open = new Map<string, TaskRecord>()

  constructor (private readonly db: Db) {}

  async load (): Promise<number> {
    for await (const [, value] of this.db.iterator({ gte: 't!', lt: 't!\xff' })) {
      const t = decodeCanonical(value) as TaskRecord
      if (!isTerminal(t.state)) this.open.set(t.id, t)
    }
    return this.open.size
  }

  /** The write of `t`, for a batch. */
  putOp (t: TaskRecord): StoreOp {
    return { type: 'put', bucket: Bucket.tasks, key: `t!${t.id}`, value: encodeCanonical(clean(t)) }
  }

  /** Takes `t` as the current record, once it is on disk. */
  cache (t: TaskRecord): void {
    if (isTerminal(t.state)) this.open.delete(t.id)
    else this.open.set(t.id, t)
  }

  /** Known open, in this process (a finished task's id is random: it is not submitted again). */
  has (id: string): boolean {
    return this.open.has(id)
  }

  /** The current record of an open task. */
  current (id: string): TaskRecord | undefined {
    return this.open.get(id)
  }

  async get (id: string): Promise<TaskRecord | undefined> {
    const open = this.open.get(id)
    if (open != null) return open
    const v = await this.db.get(`t!${id}`)
    return v == null ? undefined : decodeCanonical(v) as TaskRecord
  }

  async * all (): AsyncGenerator<TaskRecord> {
    for await (const [, value] of this.db.iterator({ gte: 't!', lt: 't!\xff' })) yield decodeCanonical(value) as TaskRecord
  }
}

/** DAG-CBOR has no `undefined`: drop such fields, deeply. */
function clean<T> (v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, x) => x === undefined ? null : x))
}
