import type { Command } from 'commander'
import { UsageError } from '../../../protocol/errors.js'
import { emit } from '../output.js'

/**
 * `aas login` / `aas logout`: a person's session on a node's API, kept per API URL in
 * `~/.config/aas/session.json` (0600) for the commands that act as that person (`aas review`).
 */
export function registerLogin (program: Command): void {
  program.command('login')
    .description('log in to a node as a person (password and TOTP code); keeps the session for aas review')
    .requiredOption('--user <name>', 'your user name')
    .option('--code <code>', 'the current 6-digit code of your authenticator app [asked when missing]')
    .option('--password-stdin', 'read the password from the first line of stdin (and the code from the second, without --code)')
    .option('--api <url>', 'the node\'s API [env AAS_API; default: the node on --data]')
    .option('--data <dir>', 'find the API of the node running on this data dir [default: env AAS_DATA, ~/.aas]')
    .option('--json', 'print {user, roles, expiresAt, api}')
    .action(async (opts) => {
      const [{ resolveApiUrl, ApiError }, prompt, { storeSession, sessionCookieOf }] = await Promise.all([import('../api-client.js'), import('../prompt.js'), import('../person-client.js')])
      const api = await resolveApiUrl({ api: opts.api, data: opts.data })
      let password: string
      let code: string | undefined = opts.code
      if (opts.passwordStdin === true) {
        const lines = await prompt.stdinLines()
        password = lines[0] ?? ''
        code ??= lines[1]?.trim()
      } else {
        password = await prompt.askHidden('password: ')
      }
      code ??= await prompt.ask('code: ')
      if (!/^\d{6}$/.test(code ?? '')) throw new UsageError('the code is the 6 digits your authenticator app shows')
      let res: Response
      try {
        res = await fetch(`${api}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: opts.user, password, code }), signal: AbortSignal.timeout(30_000) })
      } catch (err: any) {
        throw new ApiError(`no AAS node answers at ${api} (${String(err?.cause?.code ?? err?.name)}): is it running?`, 'ERR_API_UNREACHABLE')
      }
      const body: any = await res.json().catch(() => undefined)
      if (!res.ok) {
        const wait = res.headers.get('retry-after')
        throw new ApiError(`${typeof body?.message === 'string' ? body.message : `HTTP ${res.status}`}${wait != null ? ` (retry after ${wait} s)` : ''}`, 'ERR_API_STATUS', res.status)
      }
      const cookie = sessionCookieOf(res)
      if (cookie == null || typeof body?.csrf !== 'string') throw new ApiError(`${api} answered the login without a session`, 'ERR_API_RESPONSE')
      await storeSession(api, { user: body.user, cookie, csrf: body.csrf, expiresAt: body.expiresAt })
      emit(opts.json === true, { user: body.user, roles: body.roles, expiresAt: body.expiresAt, api }, () => `logged in to ${api} as ${String(body.user)} (${(body.roles as string[]).join(', ')}) until ${String(body.expiresAt)}`)
    })

  program.command('logout')
    .description('end your session on a node and forget it here')
    .option('--api <url>', 'the node\'s API [env AAS_API; default: the node on --data]')
    .option('--data <dir>', 'find the API of the node running on this data dir [default: env AAS_DATA, ~/.aas]')
    .option('--json', 'print {api, ended}')
    .action(async (opts) => {
      const [{ resolveApiUrl }, { loadSession, storeSession, personRequest }] = await Promise.all([import('../api-client.js'), import('../person-client.js')])
      const api = await resolveApiUrl({ api: opts.api, data: opts.data })
      const s = await loadSession(api)
      let ended = false
      if (s != null) {
        // the node may have ended it already (expired, restarted on another data dir): forget it anyway
        ended = await personRequest(api, '/v1/auth/logout', { method: 'POST' }).then(() => true, () => false)
        await storeSession(api, undefined)
      }
      emit(opts.json === true, { api, ended }, () => s == null ? `not logged in to ${api}` : `logged out of ${api}`)
    })
}
