import { expect } from 'chai'
import { Command } from 'commander'
import { buildProgram } from '../../../../node/cli/main.js'
import { commandGroups, groupsFor, type CommandGroup } from '../../../../node/cli/commands/index.js'

/**
 * The CLI loads only the command modules a command line needs (issue 12). These tests check
 * that this changes nothing a person sees: each group declares the commands its module
 * registers, and every command's help reads the same whether the program was built for that
 * command alone or with every group.
 */

/** Every command under `cmd` with its help text, by path (`aas skill run`). */
function helps (cmd: Command, prefix: string[] = []): Map<string, string> {
  const out = new Map<string, string>()
  const path = [...prefix, cmd.name()]
  out.set(path.join(' '), cmd.helpInformation())
  for (const sub of cmd.commands) for (const [k, v] of helps(sub, path)) out.set(k, v)
  return out
}

describe('node/cli: command groups loaded on demand', () => {
  it('each group names exactly the top-level commands its module registers', async () => {
    for (const g of commandGroups) {
      const program = new Command('aas')
      ;(await g.load())(program)
      expect(program.commands.map(c => c.name()).sort(), g.names.join(',')).to.deep.equal([...g.names].sort())
    }
  })

  it('every top-level command of the full program belongs to a group', async () => {
    const names = new Set(commandGroups.flatMap(g => g.names))
    const program = await buildProgram()
    for (const c of program.commands) expect(names.has(c.name()), c.name()).to.equal(true)
  })

  it('a program built for one command shows that command\'s help exactly as the full program does', async () => {
    const program = await buildProgram()
    const full = helps(program)
    for (const name of new Set(commandGroups.flatMap(g => g.names))) {
      const one = await buildProgram(['node', 'aas', name, '--help'])
      expect(one.commands.length).to.be.lessThan(program.commands.length) // it did not load everything
      const part = helps(one)
      for (const [path, text] of part) {
        if (path === 'aas') continue
        expect(text, path).to.equal(full.get(path))
      }
      // nothing of the group is missing
      for (const path of full.keys()) if (path.startsWith(`aas ${name} `) || path === `aas ${name}`) expect(part.has(path), path).to.equal(true)
    }
  })

  describe('groupsFor', () => {
    const g = (names: string[]): CommandGroup => ({ names, load: async () => () => {} })
    const groups = [g(['node']), g(['skill']), g(['skill']), g(['login', 'logout'])]

    it('picks the groups of the first argument that is not an option', () => {
      expect(groupsFor(['skill', 'run', 'x'], groups)).to.deep.equal([groups[1], groups[2]])
      expect(groupsFor(['--debug', 'logout'], groups)).to.deep.equal([groups[3]])
      expect(groupsFor(['node', 'skill'], groups)).to.deep.equal([groups[0]])
    })

    it('every group for no command, help, an unknown name, or a name after --', () => {
      expect(groupsFor([], groups)).to.equal(groups)
      expect(groupsFor(['--help'], groups)).to.equal(groups)
      expect(groupsFor(['help', 'skill'], groups)).to.equal(groups)
      expect(groupsFor(['nosuch'], groups)).to.equal(groups)
      expect(groupsFor(['--', 'skill'], groups)).to.equal(groups)
    })
  })
})
