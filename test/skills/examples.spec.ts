import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { REPO, runCli } from '../utils/cli-node.js'

/**
 * The example skills are what the demo and the docs use: every one passes its own tests in
 * the real sandbox through the real CLI, and the set covers both interpreted runtimes.
 */
const EXAMPLES = join(REPO, 'skills', 'examples')

describe('example skills', function () {
  this.timeout(120_000)

  it('there are at least five, in both python3 and node', async () => {
    const runtimes = new Set<string>()
    const names = await readdir(EXAMPLES)
    for (const name of names) {
      const manifest = JSON.parse(await readFile(join(EXAMPLES, name, 'skill.json'), 'utf8'))
      expect(manifest.name).to.equal(name)
      expect(manifest.inputSchema, `${name} inputSchema`).to.be.an('object')
      expect(manifest.outputSchema, `${name} outputSchema`).to.be.an('object')
      runtimes.add(manifest.runtime)
    }
    expect(names.length).to.be.at.least(5)
    expect([...runtimes]).to.include.members(['python3', 'node'])
  })

  for (const name of ['csv-clean', 'file-inventory', 'json-validate', 'log-summary', 'markdown-format']) {
    it(`${name} passes aas skill test`, async () => {
      const r = await runCli(['skill', 'test', join(EXAMPLES, name), '--json'], { timeoutMs: 60_000 })
      expect(r.stderr).to.equal('')
      expect(r.code).to.equal(0)
      const report = JSON.parse(r.stdout)
      expect(report.ok).to.equal(true)
      expect(report.cases.length).to.be.at.least(1)
      expect(report.passed).to.equal(report.cases.length)
    })
  }

  it('aas skill run --json reports the contract fields and files left in /output', async () => {
    const input = JSON.stringify({ files: [{ path: 'a.txt', content: 'x\n' }] })
    const r = await runCli(['skill', 'run', join(EXAMPLES, 'file-inventory'), '--input', input, '--json'])
    expect(r.code).to.equal(0)
    const out = JSON.parse(r.stdout)
    expect(out).to.include.all.keys('status', 'exitCode', 'output', 'stdoutBytes', 'stderrTail', 'durationMs', 'limits', 'image', 'runtime')
    expect(out.status).to.equal('succeeded')
    expect(out.image).to.match(/^localhost\/aas-runtime-python3:[0-9a-f]{16}$/)
    expect(out.limits).to.deep.equal({ memoryMB: 128, cpus: 1, pids: 16, timeoutS: 20 })
    expect(out.files).to.deep.equal([{ path: 'SHA256SUMS', size: 72 }])
  })

  it('input that fails the skill\'s input schema is refused before anything runs', async () => {
    const r = await runCli(['skill', 'run', join(EXAMPLES, 'csv-clean'), '--input', '{"csv": 5}', '--json'])
    expect(r.code).to.equal(1)
    const out = JSON.parse(r.stdout)
    expect(out.status).to.equal('invalid-input')
    expect(out.error).to.match(/csv/)
    expect(out.exitCode).to.equal(null)
  })

  it('a skill that fails its own test is reported and exits 1', async () => {
    const r = await runCli(['skill', 'run', join(EXAMPLES, 'csv-clean'), '--input', '{"csv": "a,b\\n1,2\\n", "dateColumns": ["zzz"]}', '--json'])
    expect(r.code).to.equal(1)
    const out = JSON.parse(r.stdout)
    expect(out.status).to.equal('failed')
    expect(out.exitCode).to.equal(2)
    expect(out.stderrTail).to.match(/no column named zzz/)
  })

  it('says which packages to install when podman is missing', async () => {
    const r = await runCli(['skill', 'run', join(EXAMPLES, 'csv-clean'), '--input', '{"csv": "a\\n"}'], { env: { PATH: '/nonexistent' } })
    expect(r.code).to.equal(1)
    expect(r.stderr.trim().split('\n')).to.have.length(1)
    expect(r.stderr).to.match(/^aas: podman is not installed: install the Debian packages podman and runc/)
  })
})
