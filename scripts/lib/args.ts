import { CommanderError, type Command } from 'commander'

/**
 * Parses a script's arguments the way the `aas` CLI does: errors as one `NAME: …` line,
 * help exits 0, bad usage exits 2. Returns the exit code to leave with, or undefined to go on.
 */
export const EXIT_USAGE = 2

export function parseScriptArgs (program: Command, argv: string[]): number | undefined {
  program
    .configureOutput({ outputError: (str, write) => { write(`${program.name()}: ${str.replace(/^error: /, '')}`) } })
    .exitOverride()
  try {
    program.parse(argv)
    return undefined
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' ? 0 : EXIT_USAGE
    throw err
  }
}
