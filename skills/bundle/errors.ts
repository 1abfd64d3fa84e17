import { AasError } from '../../protocol/errors.js'

export type BundleErrorCode =
  | 'ERR_BUNDLE_PATH' | 'ERR_BUNDLE_SYMLINK' | 'ERR_BUNDLE_SPECIAL' | 'ERR_BUNDLE_TOO_LARGE'
  | 'ERR_BUNDLE_FORMAT' | 'ERR_CID_MISMATCH'

/** A folder that cannot be packed, or bytes that are not a well-formed bundle. */
export class BundleError extends AasError {
  constructor (message: string, code: BundleErrorCode, readonly path?: string) {
    super(message, code)
    this.name = 'BundleError'
  }
}
