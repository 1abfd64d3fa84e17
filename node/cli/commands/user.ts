import type { Command } from 'commander'
import { UsageError } from '../../../protocol/errors.js'
import type { PublicUser } from '../../auth/index.js'
import type { EnrolmentView, PeopleAdmin, PeopleTarget } from '../people-admin.js'
import { emit } from '../output.js'

/**
 * `aas user`: the people of a node — add (with a password and a TOTP secret), list, disable,
 * reset-totp, unlock. On a stopped node's data dir directly; on a running one through its API
 * with the admin token from the data dir.
 */
const target = (cmd: Command): Command => cmd
  .option('--data <dir>', 'the node\'s data directory [default: env AAS_DATA, ~/.aas]; a running node there is asked through its API')
  .option('--api <url>', 'ask the node at this API (the admin token is still read from --data)')
  .option('--json', 'print JSON')

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** AuthErrors of bad input are usage errors (exit 2), the rest failures (exit 1). */
async function usageOf (err: unknown): Promise<never> {
  const { AuthError, AuthErrorCode } = await import('../../auth/index.js')
  if (err instanceof AuthError && [AuthErrorCode.BAD_NAME, AuthErrorCode.BAD_ROLE, AuthErrorCode.WEAK_PASSWORD].includes(err.code)) throw new UsageError(err.message, err.code)
  throw err
}

async function withAdmin<T> (opts: PeopleTarget, fn: (a: PeopleAdmin) => Promise<T>): Promise<T> {
  const { openPeopleAdmin } = await import('../people-admin.js')
  const admin = await openPeopleAdmin(opts)
  try {
    return await fn(admin)
  } catch (err) {
    return await usageOf(err)
  } finally {
    await admin.close()
  }
}

const userLine = (u: PublicUser): string =>
  `${u.name.padEnd(16)} ${u.roles.join(',').padEnd(24)} ${u.disabled ? 'disabled' : u.lockedUntil != null ? `locked until ${u.lockedUntil}` : 'active'}`

/** The enrolment, once: the URI and a QR code an authenticator app scans (not with --json). */
async function printEnrolment (json: boolean, e: EnrolmentView, what: string): Promise<void> {
  if (json) { emit(true, { name: e.name, roles: e.roles, otpauthUri: e.otpauthUri }, () => ''); return }
  const { default: QRCode } = await import('qrcode')
  const qr = await QRCode.toString(e.otpauthUri, { type: 'terminal', small: true })
  process.stdout.write(`${what} ${e.name} (${e.roles.join(', ')}).\nScan this into an authenticator app (shown once; it is not stored anywhere you can read it back):\n${qr}\n${e.otpauthUri}\n`)
}

export function registerUser (program: Command): void {
  const user = program.command('user').description('the people who may log in to this node to review or approve tasks')

  target(user.command('add <name>'))
    .description('add a person with a password and a TOTP secret; prints the otpauth:// URI and a QR code once')
    .option('--role <role>', 'reviewer, approver or admin; repeatable or a comma list', collect)
    .option('--password-stdin', 'read the password as one line from stdin (else it is asked twice on the terminal)')
    .action(async (name: string, opts) => {
      const { checkUserName, parseRoles, checkPassword } = await import('../../auth/index.js')
      if (opts.role == null) throw new UsageError('give the person a role: --role reviewer|approver|admin')
      const { roles, password } = await (async () => {
        try {
          checkUserName(name)
          const roles = parseRoles(opts.role)
          const { newPassword } = await import('../prompt.js')
          return { roles, password: checkPassword(await newPassword(opts.passwordStdin === true)) }
        } catch (err) { return await usageOf(err) }
      })()
      const e = await withAdmin({ ...opts, create: true }, async (a) => await a.add({ name, roles, password }))
      await printEnrolment(opts.json === true, e, 'Added')
    })

  target(user.command('list'))
    .description('every person: name, roles, and whether disabled or locked (never a secret)')
    .action(async (opts) => {
      const users = await withAdmin(opts, async (a) => await a.list())
      emit(opts.json === true, users, () => users.length === 0 ? 'no users: add one with "aas user add NAME --role reviewer"' : users.map(userLine).join('\n'))
    })

  target(user.command('disable <name>'))
    .description('the person can no longer log in; their sessions end now')
    .action(async (name: string, opts) => {
      const u = await withAdmin(opts, async (a) => await a.disable(name))
      emit(opts.json === true, u, () => `disabled ${u.name}; their sessions have ended`)
    })

  target(user.command('reset-totp <name>'))
    .description('a new TOTP secret (a lost phone): the old codes stop working, sessions end, a lock is lifted; prints the new URI and QR code once')
    .action(async (name: string, opts) => {
      const e = await withAdmin(opts, async (a) => await a.resetTotp(name))
      await printEnrolment(opts.json === true, e, 'New TOTP secret for')
    })

  target(user.command('unlock <name>'))
    .description('lift the lock of a person locked after repeated failed logins')
    .action(async (name: string, opts) => {
      const u = await withAdmin(opts, async (a) => await a.unlock(name))
      emit(opts.json === true, u, () => `unlocked ${u.name}`)
    })
}
