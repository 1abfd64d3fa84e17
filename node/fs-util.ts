import { open, rename, unlink, mkdir, access, stat, chmod } from 'node:fs/promises'
import { constants } from 'node:fs'
import { dirname, basename, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { DataDirError } from './errors.js'

/**
 * Writes a file atomically: a temp file beside it (created with `mode`), fsync, rename, and
 * fsync of the directory, so a crash leaves either the old file or the new one, never half.
 * `data` may come in chunks (an export of a long log is never held whole in memory).
 */
export async function writeFileAtomic (path: string, data: Uint8Array | string | AsyncIterable<Uint8Array | string>, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', mode)
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await fh.writeFile(data)
    else for await (const chunk of data) await fh.writeFile(chunk) // each one from where the last ended
    await fh.sync()
  } catch (err) {
    await fh.close()
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fh.close()
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  const dir = await open(dirname(path), 'r')
  try { await dir.sync() } finally { await dir.close() }
}

/**
 * Creates the data dir (0700) when missing and checks that it is a usable directory. An existing
 * one of ours that others may enter is closed to them (0700): its LevelDB holds password hashes
 * and TOTP secrets, whose files LevelDB creates with the umask's mode.
 */
export async function prepareDataDir (dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const s = await stat(dir)
    if (!s.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
    if ((s.mode & 0o077) !== 0 && s.uid === process.getuid?.()) await chmod(dir, 0o700)
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK)
  } catch (err: any) {
    const why = err.code === 'EACCES' || err.code === 'EPERM'
      ? 'permission denied'
      : err.code === 'ENOTDIR' || err.code === 'EEXIST' ? 'it is not a directory' : (err.code ?? err.message)
    throw new DataDirError(`data dir ${dir} cannot be used (${why}): fix its permissions or choose another with --data`, 'ERR_DATA_DIR')
  }
}
