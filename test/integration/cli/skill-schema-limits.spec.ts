import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { runCli, tempDir } from '../../utils/cli-node.js'

/**
 * A skill's schemas through the real CLI (issue 9, "a skill's JSON Schemas cannot hang"): lint
 * (the publish gate's own check) refuses a pattern RE2 cannot run with one line naming the field
 * and what to change; a catastrophic-backtracking pattern is matched in linear time, so
 * `aas skill run` with a hostile input answers invalid-input at once (before any sandbox
 * starts). Mocha's timeout is the only guard against a hang.
 */
describe('CLI: skill schemas cannot hang', function () {
  this.timeout(120_000)
  let tmp: { path: string, remove: () => Promise<void> }
  before(async function () { tmp = await tempDir('aas-cli-schema-') })
  after(async function () { await tmp?.remove() })

  const skill = async (name: string, pattern: string): Promise<string> => {
    const dir = join(tmp.path, name)
    await mkdir(dir)
    await writeFile(join(dir, 'main.sh'), 'cat\n')
    await writeFile(join(dir, 'skill.json'), JSON.stringify({
      name,
      version: '1.0.0',
      description: 'a pattern in its input schema',
      runtime: 'sh',
      entrypoint: 'main.sh',
      inputSchema: { type: 'object', properties: { s: { type: 'string', pattern } } },
      tests: [{ input: { s: 'aa' }, expect: { s: 'aa' } }]
    }))
    return dir
  }

  it('lint refuses a backreference: exit 1, one line naming inputSchema and the fix', async function () {
    const dir = await skill('backref', '^(a)\\1$')
    const r = await runCli(['skill', 'lint', dir])
    expect(r.code, r.stdout + r.stderr).to.equal(1)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines, r.stdout).to.have.length(1)
    expect(lines[0]).to.match(/^inputSchema: is refused: pattern "\^\(a\)\\\\1\$" cannot be matched in linear time .*use no backreferences or lookaround/)
    const j = await runCli(['skill', 'lint', dir, '--json'])
    expect(JSON.parse(j.stdout).problems.map((p: { field: string }) => p.field)).to.deep.equal(['inputSchema'])
  })

  it('a catastrophic-backtracking pattern against a hostile input: invalid-input, at once', async function () {
    const dir = await skill('nested', '^(a+)+$')
    const input = join(tmp.path, 'hostile.json')
    await writeFile(input, JSON.stringify({ s: 'a'.repeat(100_000) + 'b' }))
    const r = await runCli(['skill', 'run', dir, '--input', `@${input}`, '--json'])
    expect(r.code, r.stdout + r.stderr).to.equal(1)
    const out = JSON.parse(r.stdout)
    expect(out.status).to.equal('invalid-input')
    expect(out.error).to.match(/field "s" must match pattern/)
  })
})
