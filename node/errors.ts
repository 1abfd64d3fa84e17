import { AasError } from '../protocol/index.js'

/** The data directory cannot be used: missing rights, not a directory, held by another node. */
export class DataDirError extends AasError {
  constructor (message: string, code: 'ERR_DATA_DIR' | 'ERR_DATA_DIR_LOCKED' | 'ERR_DATA_DIR_VERSION') {
    super(message, code)
    this.name = 'DataDirError'
  }
}

/** The node's identity key file is unusable (unsafe mode, corrupt). */
export class IdentityError extends AasError {
  constructor (message: string, code: 'ERR_IDENTITY_MODE' | 'ERR_IDENTITY_INVALID') {
    super(message, code)
    this.name = 'IdentityError'
  }
}

/** A listen address or the API address cannot be bound. */
export class ListenError extends AasError {
  constructor (message: string, code: 'ERR_ADDRESS_IN_USE' | 'ERR_LISTEN') {
    super(message, code)
    this.name = 'ListenError'
  }
}
