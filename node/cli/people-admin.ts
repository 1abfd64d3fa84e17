import { access } from 'node:fs/promises'
import { homedir, userInfo } from 'node:os'
import { join, resolve } from 'node:path'
import { UsageError } from '../../protocol/errors.js'
import type { Enrolment, PublicUser, Role } from '../auth/index.js'
import { ApiError, resolveApiUrl, RUNTIME_FILE } from './api-client.js'

/**
 * Where `aas user` manages a node's people: a stopped node's LevelDB, opened directly (the
 * change and its audit entry, signed with the data dir's identity, in one batch), or — when a
 * node runs there and holds the lock — that node's API, with the admin token it wrote to
 * `api.token` in the data dir (so only who can read the data dir can manage its people).
 */
export type EnrolmentView = PublicUser & { otpauthUri: string }

export interface PeopleAdmin {
  where: { data: string } | { api: string }
  add: (init: { name: string, roles: Role[], password: string }) => Promise<EnrolmentView>
  list: () => Promise<PublicUser[]>
  disable: (name: string) => Promise<PublicUser>
  unlock: (name: string) => Promise<PublicUser>
  resetTotp: (name: string) => Promise<EnrolmentView>
  close: () => Promise<void>
}

export interface PeopleTarget { data?: string, api?: string, create?: boolean }

const view = (e: Enrolment): EnrolmentView => ({ ...e.user, otpauthUri: e.otpauthUri })

export async function openPeopleAdmin (target: PeopleTarget, env: NodeJS.ProcessEnv = process.env): Promise<PeopleAdmin> {
  const dir = resolve(target.data ?? env.AAS_DATA ?? join(homedir(), '.aas'))
  if (target.api != null) return await apiAdmin(await resolveApiUrl({ api: target.api }, env), dir)
  const [{ NodeStore }, { prepareDataDir }] = await Promise.all([import('../store/index.js'), import('../fs-util.js')])
  const hasDb = await access(join(dir, 'db', 'CURRENT')).then(() => true, () => false)
  if (!hasDb && target.create !== true) throw new UsageError(`${dir} holds no AAS node database: give the node's data dir with --data DIR`)
  await prepareDataDir(dir)
  const store = new NodeStore(dir)
  try {
    await store.open()
  } catch (err: any) {
    if (err?.code !== 'ERR_DATA_DIR_LOCKED') throw err
    const running = await access(join(dir, RUNTIME_FILE)).then(() => true, () => false)
    if (!running) throw new ApiError(`a node holds ${dir} but has not said where its API is (${RUNTIME_FILE}): it may be starting; try again`, 'ERR_API_UNREACHABLE')
    return await apiAdmin(await resolveApiUrl({ data: dir }, {}), dir)
  }
  try {
    return await directAdmin(dir, store)
  } catch (err) {
    await store.close()
    throw err
  }
}

async function directAdmin (dir: string, store: import('../store/index.js').NodeStore): Promise<PeopleAdmin> {
  const [{ loadOrCreateIdentity }, { Signer }, { AuditLog }, { Auth }, { createLogger }] = await Promise.all([
    import('../identity.js'), import('../signer.js'), import('../audit/index.js'), import('../auth/index.js'), import('../log.js')
  ])
  const log = createLogger('silent')
  const audit = new AuditLog({ store, signer: new Signer(await loadOrCreateIdentity(dir)), metrics: null, log })
  await audit.open()
  const auth = new Auth({ store, audit, metrics: null, log })
  await auth.open()
  // the audit's actor: the local account that ran the command
  const by = { actor: `cli:${userInfo().username}` }
  return {
    where: { data: dir },
    add: async (init) => view(await auth.addUser(init, by)),
    list: async () => await auth.listUsers(),
    disable: async (name) => await auth.disableUser(name, by),
    unlock: async (name) => await auth.unlockUser(name, by),
    resetTotp: async (name) => view(await auth.resetTotp(name, by)),
    close: async () => { await audit.stop(); await store.close() }
  }
}

async function apiAdmin (api: string, dir: string): Promise<PeopleAdmin> {
  const { readApiToken, API_TOKEN_FILE } = await import('../auth/index.js')
  const token = await readApiToken(dir)
  if (token == null) throw new ApiError(`cannot read the node's admin token ${join(dir, API_TOKEN_FILE)}: run this as the node's user, with --data its data dir`, 'ERR_API_STATUS', 401)
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: Response
    try {
      res = await fetch(`${api}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30_000)
      })
    } catch (err: any) {
      throw new ApiError(`no AAS node answers at ${api} (${String(err?.cause?.code ?? err?.name)}): is it running?`, 'ERR_API_UNREACHABLE')
    }
    const answer: any = await res.json().catch(() => undefined)
    if (!res.ok) throw new ApiError(typeof answer?.message === 'string' ? answer.message : `${api}${path}: HTTP ${res.status}`, 'ERR_API_STATUS', res.status)
    return answer as T
  }
  const enc = encodeURIComponent
  return {
    where: { api },
    add: async (init) => await call('POST', '/v1/users', init),
    list: async () => (await call<{ users: PublicUser[] }>('GET', '/v1/users')).users,
    disable: async (name) => await call('POST', `/v1/users/${enc(name)}/disable`),
    unlock: async (name) => await call('POST', `/v1/users/${enc(name)}/unlock`),
    resetTotp: async (name) => await call('POST', `/v1/users/${enc(name)}/reset-totp`),
    close: async () => {}
  }
}
