import { AasError } from '../../protocol/index.js'

export enum ReviewErrorCode {
  NOT_FOUND = 'ERR_NOT_FOUND',
  /** The task is not waiting for a person (never was, or someone already decided it). */
  NOT_IN_REVIEW = 'ERR_NOT_IN_REVIEW',
  /** Another reviewer holds it. */
  HELD = 'ERR_REVIEW_HELD',
  /** Resolve, reject and release need the hold: claim first. */
  HOLD_REQUIRED = 'ERR_REVIEW_HOLD_REQUIRED',
  /** The answer does not match the skill's output schema. */
  INVALID_OUTPUT = 'ERR_INVALID_OUTPUT',
  /** The fix is not `{input: {...}}`, or the input with it does not match the skill's input schema. */
  INVALID_FIX = 'ERR_INVALID_FIX',
  BAD_REQUEST = 'ERR_BAD_REVIEW'
}

/** HTTP status of each refusal. */
export const REVIEW_STATUS: Record<ReviewErrorCode, number> = {
  [ReviewErrorCode.NOT_FOUND]: 404,
  [ReviewErrorCode.NOT_IN_REVIEW]: 409,
  [ReviewErrorCode.HELD]: 409,
  [ReviewErrorCode.HOLD_REQUIRED]: 409,
  [ReviewErrorCode.INVALID_OUTPUT]: 400,
  [ReviewErrorCode.INVALID_FIX]: 400,
  [ReviewErrorCode.BAD_REQUEST]: 400
}

export class ReviewError extends AasError {
  constructor (message: string, code: ReviewErrorCode, readonly holder?: string, readonly holdUntil?: number) {
    super(message, code)
    this.name = 'ReviewError'
  }
}
