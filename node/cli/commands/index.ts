import type { Command } from 'commander'

/**
 * Every top-level command group: the commands it adds to the program and how to load the
 * module that registers them, in the order `aas --help` lists them. Modules are loaded on
 * demand (issue 12): `aas skill run` loads the skill modules, not the node's or the audit
 * trail's; `aas --help`, `aas` alone and a name that is no command load them all, so help
 * and "unknown command" read as before. A unit test checks each entry's `names` against what
 * its module registers.
 */
export interface CommandGroup {
  /** The top-level commands the module registers (a group may extend another's, as library does skill's). */
  names: string[]
  load: () => Promise<(program: Command) => void>
}

export const commandGroups: CommandGroup[] = [
  { names: ['node'], load: async () => (await import('./node.js')).registerNode },
  { names: ['skill'], load: async () => (await import('./skill.js')).registerSkill },
  { names: ['skill'], load: async () => (await import('./library.js')).registerLibrary },
  { names: ['task'], load: async () => (await import('./task.js')).registerTask },
  { names: ['audit'], load: async () => (await import('./audit.js')).registerAudit },
  { names: ['user'], load: async () => (await import('./user.js')).registerUser },
  { names: ['login', 'logout'], load: async () => (await import('./login.js')).registerLogin },
  { names: ['review'], load: async () => (await import('./review.js')).registerReview },
  { names: ['memory'], load: async () => (await import('./memory.js')).registerMemory },
  { names: ['team'], load: async () => (await import('./team.js')).registerTeam },
  { names: ['keys'], load: async () => (await import('./keys.js')).registerKeys },
  { names: ['images'], load: async () => (await import('./images.js')).registerImages }
]

/**
 * The groups a command line needs: those that register its command (the first argument that
 * is not an option: the program's own options take no value), or every group when it names
 * none of them.
 */
export function groupsFor (args: string[], groups: CommandGroup[] = commandGroups): CommandGroup[] {
  const end = args.indexOf('--')
  const name = (end < 0 ? args : args.slice(0, end)).find(a => !a.startsWith('-'))
  const chosen = name == null ? [] : groups.filter(g => g.names.includes(name))
  return chosen.length > 0 ? chosen : groups
}
