/**
 * The `aas` command line: one commander program, commands registered from ./commands.
 * Exit codes: 0 ok, 1 failed, 2 bad usage. Errors print as one line on stderr; the stack
 * only with --debug.
 */
import { Command, CommanderError } from 'commander'
import { UsageError } from '../../protocol/errors.js'
import { commandGroups, groupsFor } from './commands/index.js'
import { VERSION } from '../version.js'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/**
 * A usage error commander reports, as the one line the README promises: the message and
 * where to read the usage (not a second line of help).
 */
function usageLine (cmd: Command): (str: string, write: (str: string) => void) => void {
  return (str, write) => {
    const names: string[] = []
    for (let c: Command | null = cmd; c != null; c = c.parent) names.unshift(c.name())
    write(`aas: ${str.replace(/^error: /, '').trim().split('\n')[0]} (see: ${names.join(' ')} --help)\n`)
  }
}

/**
 * The program with the command groups `argv` needs (all of them without `argv`): a command
 * loads only its own modules; help lists everything as before.
 */
export async function buildProgram (argv?: string[]): Promise<Command> {
  const program = new Command('aas')
  program
    .description('AAS: a peer-to-peer mesh of small, sandboxed agents that do repetitive digital work')
    .version(VERSION, '-V, --version')
    .option('--debug', 'print stack traces with errors')
    .configureOutput({ outputError: usageLine(program) })
    .exitOverride()
  const groups = argv == null ? commandGroups : groupsFor(argv.slice(2))
  for (const register of await Promise.all(groups.map(async g => await g.load()))) register(program)
  program.commands.forEach(function seal (cmd: Command): void {
    cmd.exitOverride()
    cmd.configureOutput({ outputError: usageLine(cmd) })
    cmd.commands.forEach(seal)
  })
  return program
}

export async function main (argv: string[]): Promise<number> {
  const program = await buildProgram(argv)
  const debug = argv.includes('--debug')
  try {
    await program.parseAsync(argv)
    return process.exitCode === undefined ? EXIT_OK : Number(process.exitCode)
  } catch (err: any) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; commander has already printed.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_OK
      return EXIT_USAGE
    }
    const line = typeof err?.message === 'string' ? err.message.split('\n')[0] : String(err)
    process.stderr.write(`aas: ${line}\n`)
    if (debug && err?.stack != null) process.stderr.write(`${err.stack}\n`)
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILED
  }
}
