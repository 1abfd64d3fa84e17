import { AasError } from '../protocol/errors.js'

export enum TrustErrorCode {
  /** A key in the trust policy is not an author public key. */
  BAD_KEY = 'ERR_TRUST_BAD_KEY'
}

export class TrustError extends AasError {
  constructor (message: string, code: TrustErrorCode) {
    super(message, code)
    this.name = 'TrustError'
  }
}
