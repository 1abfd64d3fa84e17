import { UsageError } from '../../protocol/errors.js'

/** A configuration value is missing, malformed or out of range. */
export class ConfigError extends UsageError {
  constructor (message: string, code = 'ERR_CONFIG') {
    super(message, code)
    this.name = 'ConfigError'
  }
}
