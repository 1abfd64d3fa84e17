import { mkdir, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROLES, type Role } from '../../federation/index.js'
import { admit, initTeam, readTeamKey } from '../../node/team/files.js'
import { loadOrCreateIdentity } from '../../node/identity.js'
import { prepareDataDir, writeFileAtomic } from '../../node/fs-util.js'
import type { TeamDescriptor } from '../../federation/index.js'

/**
 * A team made on the spot for local meshes, the demo, benchmarks and tests: what an operator
 * does with `aas team init` and `aas team admit`, in-process (the same functions), so every
 * local node joins one team and trusts its peers. Each node's certificate is written into its
 * data dir; `nodeArgs` gives the `--team`/`--cert` flags to start it with.
 */
export class LocalTeam {
  private constructor (readonly dir: string, readonly descriptor: TeamDescriptor, readonly descriptorFile: string, readonly keyFile: string) {}

  static async create (dir?: string, name = 'local'): Promise<LocalTeam> {
    const where = dir ?? await mkdtemp(join(tmpdir(), 'aas-team-'))
    await mkdir(where, { recursive: true, mode: 0o700 })
    const t = await initTeam(name, where)
    return new LocalTeam(where, t.descriptor, t.descriptorFile, t.keyFile)
  }

  /** Admits a key (raw) with `roles` for `ttlMs`; writes the certificate file to `out`. */
  async admitKey (subject: Uint8Array, out: string, roles: readonly Role[] = ROLES, ttlMs = 365 * 86_400_000, now = Date.now()): Promise<string> {
    const file = await admit(await readTeamKey(this.keyFile), { team: this.descriptor.name, subject, roles: [...roles], notBefore: now - 60_000, expires: now + ttlMs })
    await writeFileAtomic(out, JSON.stringify(file, null, 2) + '\n', 0o644)
    return out
  }

  /** A certificate's bytes (what an envelope carries), for a key made in-process (raw peers in tests). */
  async certificate (subject: Uint8Array, roles: readonly Role[] = ROLES, ttlMs = 365 * 86_400_000, now = Date.now()): Promise<Uint8Array> {
    const file = await admit(await readTeamKey(this.keyFile), { team: this.descriptor.name, subject, roles: [...roles], notBefore: now - 60_000, expires: now + ttlMs })
    return new Uint8Array(Buffer.from(file.certificate, 'base64url'))
  }

  /**
   * Makes the node's identity in `dataDir` (as its first start would) and admits it; returns
   * the `aas node start` flags that put it in this team.
   */
  async nodeArgs (dataDir: string, roles: readonly Role[] = ROLES, ttlMs?: number): Promise<string[]> {
    const t = await this.nodeConfig(dataDir, roles, ttlMs)
    return ['--team', t.descriptor, '--cert', t.certificate]
  }

  /** The same as config `team` (for nodes built in-process). */
  async nodeConfig (dataDir: string, roles: readonly Role[] = ROLES, ttlMs?: number): Promise<{ descriptor: string, certificate: string }> {
    await prepareDataDir(dataDir)
    const key = await loadOrCreateIdentity(dataDir)
    const certificate = await this.admitKey(key.publicKey.raw, join(dataDir, 'team.cert'), roles, ttlMs)
    return { descriptor: this.descriptorFile, certificate }
  }
}
