import type { Command } from 'commander'
import { registerNode } from './node.js'
import { registerSkill } from './skill.js'
import { registerImages } from './images.js'
import { registerKeys } from './keys.js'
import { registerLibrary } from './library.js'
import { registerTask } from './task.js'
import { registerAudit } from './audit.js'
import { registerUser } from './user.js'
import { registerLogin } from './login.js'
import { registerReview } from './review.js'
import { registerMemory } from './memory.js'

/** Every top-level command group; each registers its subcommands on the program. */
export const commands: Array<(program: Command) => void> = [
  registerNode,
  registerSkill,
  registerLibrary,
  registerTask,
  registerAudit,
  registerUser,
  registerLogin,
  registerReview,
  registerMemory,
  registerKeys,
  registerImages
]
