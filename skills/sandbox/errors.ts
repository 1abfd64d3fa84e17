import { AasError } from '../../protocol/errors.js'

export type SandboxErrorCode =
  | 'ERR_PODMAN_MISSING' | 'ERR_RUNTIME_MISSING' | 'ERR_IMAGE_MISSING'
  | 'ERR_LIMITS_UNENFORCED' | 'ERR_SANDBOX'

/** The sandbox cannot run a skill on this host (as opposed to a skill that ran and failed). */
export class SandboxError extends AasError {
  constructor (message: string, code: SandboxErrorCode) {
    super(message, code)
    this.name = 'SandboxError'
  }
}
