/**
 * Base error of every AAS part. Each part declares its own small subclasses with a stable
 * `name` (and a `code` where callers branch); code and tests branch on those, never on text.
 */
export class AasError extends Error {
  readonly code: string

  constructor (message: string, code: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AasError'
    this.code = code
  }
}

/** The caller used a command or an API wrongly (bad flag, bad value): exit code 2 at the CLI. */
export class UsageError extends AasError {
  constructor (message: string, code = 'ERR_USAGE') {
    super(message, code)
    this.name = 'UsageError'
  }
}
