import { AasError } from '../../protocol/index.js'

/** Why a submission was refused; nothing is stored. */
export enum SubmitErrorCode {
  UNKNOWN_SKILL = 'ERR_UNKNOWN_SKILL',
  INVALID_INPUT = 'ERR_INVALID_INPUT',
  INPUT_TOO_LARGE = 'ERR_INPUT_TOO_LARGE',
  BAD_SUBMISSION = 'ERR_BAD_SUBMISSION'
}

export class SubmitError extends AasError {
  constructor (message: string, code: SubmitErrorCode | `${SubmitErrorCode}`) {
    super(message, code)
    this.name = 'SubmitError'
  }
}

/** A change the task state machine refuses: the record stays as it was. */
export enum TaskStateErrorCode {
  /** The change does not lead out of the task's current state (e.g. assigning an assigned task). */
  BAD_TRANSITION = 'ERR_BAD_TRANSITION',
  /** The task has ended; only a late result may still be recorded. */
  TERMINAL = 'ERR_TASK_TERMINAL',
  /** A task with this id is already stored. */
  EXISTS = 'ERR_TASK_EXISTS'
}

export class TaskStateError extends AasError {
  constructor (message: string, code: TaskStateErrorCode, readonly task: string, readonly from: string | null, readonly event: string) {
    super(message, code)
    this.name = 'TaskStateError'
  }
}
