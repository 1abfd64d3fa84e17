import type { Command } from 'commander'

export function registerNode (program: Command): void {
  program.command('node').description('run and inspect an AAS node')
}
