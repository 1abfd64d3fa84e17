import { AasError } from '../../protocol/errors.js'

export enum BlobErrorCode {
  /** The bundle is not in the local store. */
  MISSING = 'ERR_BLOB_MISSING',
  /** The bytes do not hash to the CID (a lying peer, or a damaged file: removed). */
  CID_MISMATCH = 'ERR_CID_MISMATCH',
  /** Past the store's byte limit. */
  TOO_LARGE = 'ERR_BLOB_TOO_LARGE'
}

export class BlobError extends AasError {
  constructor (message: string, code: BlobErrorCode | `${BlobErrorCode}`) {
    super(message, code)
    this.name = 'BlobError'
  }
}
