import { decodeCanonical, encodeCanonical } from '../../protocol/index.js'
import type { Db } from '../store/index.js'
import { TERMINAL_STATES, type TaskRecord } from './types.js'

/**
 * Tasks by id in LevelDB. Open tasks are also kept in memory (the origin's working set);
 * finished ones are read from disk on demand. `undefined` values are dropped by DAG-CBOR, so
 * records are stored with nulls.
 */
export class TaskStore {
  readonly open = new Map<string, TaskRecord>()

  constructor (private readonly db: Db) {}

  async load (): Promise<number> {
    for await (const [, value] of this.db.iterator({ gte: 't!', lt: 't!\xff' })) {
      const t = decodeCanonical(value) as TaskRecord
      if (!TERMINAL_STATES.has(t.state)) this.open.set(t.id, t)
    }
    return this.open.size
  }

  async put (t: TaskRecord): Promise<void> {
    await this.db.put(`t!${t.id}`, encodeCanonical(clean(t)))
    if (TERMINAL_STATES.has(t.state)) this.open.delete(t.id)
    else this.open.set(t.id, t)
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
