import { AasError } from '../../protocol/index.js'

/**
 * Why a person was refused. Callers (HTTP routes, the CLI, tests) branch on `code`; the HTTP
 * status of each is `AUTH_HTTP_STATUS`. A wrong password and a wrong TOTP code are one code,
 * BAD_CREDENTIALS, with one message: the answer never says which of the two was wrong.
 */
export enum AuthErrorCode {
  BAD_CREDENTIALS = 'ERR_BAD_CREDENTIALS',
  /** Too many recent failures for this user or address: try again after `retryAfterS`. */
  THROTTLED = 'ERR_THROTTLED',
  /** Too many failures: the user is locked until `retryAfterS` passes or an admin unlocks. */
  LOCKED = 'ERR_LOCKED',
  DISABLED = 'ERR_DISABLED',
  /** No session cookie, or one this node does not hold (expired, logged out, another node's). */
  NO_SESSION = 'ERR_NO_SESSION',
  /** A state-changing request without the session's CSRF token. */
  CSRF = 'ERR_CSRF',
  /** The person lacks the role the route needs. */
  FORBIDDEN = 'ERR_FORBIDDEN',
  /** User management without the node's admin token (`api.token`). */
  ADMIN_TOKEN = 'ERR_ADMIN_TOKEN',
  /** A request to an API bound beyond loopback without the node's token (`api.token`): node/api/access.ts. */
  API_TOKEN = 'ERR_API_TOKEN',
  /** A `Host` header the API does not answer to (a DNS-rebinding page): node/api/access.ts. */
  HOST = 'ERR_HOST_NOT_ALLOWED',
  USER_EXISTS = 'ERR_USER_EXISTS',
  NO_SUCH_USER = 'ERR_NO_SUCH_USER',
  BAD_NAME = 'ERR_BAD_NAME',
  BAD_ROLE = 'ERR_BAD_ROLE',
  WEAK_PASSWORD = 'ERR_WEAK_PASSWORD'
}

export const AUTH_HTTP_STATUS: Record<AuthErrorCode, number> = {
  [AuthErrorCode.BAD_CREDENTIALS]: 401,
  [AuthErrorCode.THROTTLED]: 429,
  [AuthErrorCode.LOCKED]: 423,
  [AuthErrorCode.DISABLED]: 403,
  [AuthErrorCode.NO_SESSION]: 401,
  [AuthErrorCode.CSRF]: 403,
  [AuthErrorCode.FORBIDDEN]: 403,
  [AuthErrorCode.ADMIN_TOKEN]: 401,
  [AuthErrorCode.API_TOKEN]: 401,
  // 421 Misdirected Request: this server is not the one the name is for
  [AuthErrorCode.HOST]: 421,
  [AuthErrorCode.USER_EXISTS]: 409,
  [AuthErrorCode.NO_SUCH_USER]: 404,
  [AuthErrorCode.BAD_NAME]: 400,
  [AuthErrorCode.BAD_ROLE]: 400,
  [AuthErrorCode.WEAK_PASSWORD]: 400
}

export class AuthError extends AasError {
  declare readonly code: AuthErrorCode
  /** THROTTLED and LOCKED: whole seconds until a new try can succeed (HTTP `Retry-After`). */
  readonly retryAfterS: number | undefined

  constructor (message: string, code: AuthErrorCode, fields: { retryAfterS?: number } = {}) {
    super(message, code)
    this.name = 'AuthError'
    this.retryAfterS = fields.retryAfterS
  }

  get status (): number { return AUTH_HTTP_STATUS[this.code] }
}
