import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { runCli, tempDir, type CliResult } from '../../utils/cli-node.js'

/**
 * `aas skill init` and `aas skill lint` through the real CLI: a folder made for each runtime
 * passes lint and `aas skill test` (real Podman) as it is; a refused init (bad name, a
 * non-empty target, an unknown runtime) is exit 2, one `aas:` line, and writes nothing; lint
 * of a broken manifest lists every problem, one line each naming its field, and exits 1.
 */
const RUNTIMES = ['python3', 'node', 'sh'] as const

/** Exit 2, exactly one stderr line starting with "aas:", nothing on stdout. */
function expectUsage (r: CliResult, what: string): void {
  expect(r.code, `${what}: exit code (stderr: ${r.stderr})`).to.equal(2)
  const lines = r.stderr.trimEnd().split('\n')
  expect(lines, `${what}: one stderr line, got ${JSON.stringify(r.stderr)}`).to.have.length(1)
  expect(lines[0], what).to.match(/^aas:/)
  expect(r.stdout, what).to.equal('')
}

/** Every entry under `dir`, as relative path → file text ('<dir>' for folders). */
async function snapshot (dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const walk = async (at: string, rel: string): Promise<void> => {
    for (const e of await readdir(at, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`
      if (e.isDirectory()) {
        out[r] = '<dir>'
        await walk(join(at, e.name), r)
      } else {
        out[r] = await readFile(join(at, e.name), 'utf8')
      }
    }
  }
  await walk(dir, '')
  return out
}

describe('CLI: aas skill init and aas skill lint', function () {
  this.timeout(300_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let n = 0
  /** A fresh, empty folder under the suite's temp dir. */
  const fresh = async (): Promise<string> => {
    const d = join(tmp.path, `case-${++n}`)
    await mkdir(d)
    return d
  }

  before(async function () { tmp = await tempDir('aas-cli-skill-init-') })
  after(async function () { await tmp?.remove() })

  for (const runtime of RUNTIMES) {
    it(`init --runtime ${runtime} writes a folder that passes lint and skill test`, async function () {
      const parent = await fresh()
      const name = `count-${runtime === 'python3' ? 'py' : runtime}`
      const dir = join(parent, name)
      const init = await runCli(['skill', 'init', name, '--runtime', runtime, '--dir', dir, '--json'])
      expect(init.code, init.stderr).to.equal(0)
      expect(init.stderr).to.equal('')
      const out = JSON.parse(init.stdout)
      expect(out).to.have.all.keys('dir', 'name', 'runtime', 'files')
      expect(out).to.include({ dir, name, runtime })
      expect(out.files).to.be.an('array').that.includes('skill.json').and.includes('README.md')
      // the files it names are the folder's, nothing more, and nothing was left beside it
      expect((await readdir(dir)).sort()).to.deep.equal([...out.files].sort())
      expect(await readdir(parent)).to.deep.equal([name])
      const manifest = JSON.parse(await readFile(join(dir, 'skill.json'), 'utf8'))
      expect(manifest).to.include({ name, runtime })
      expect(out.files).to.include(manifest.entrypoint)
      expect(manifest.tests).to.have.length(1)

      const lint = await runCli(['skill', 'lint', dir])
      expect(lint.code, lint.stdout + lint.stderr).to.equal(0)
      expect(lint.stdout.trim()).to.equal('ok')
      const lintJson = await runCli(['skill', 'lint', dir, '--json'])
      expect(lintJson.code, lintJson.stdout + lintJson.stderr).to.equal(0)
      expect(JSON.parse(lintJson.stdout)).to.deep.equal({ ok: true, problems: [] })

      const test = await runCli(['skill', 'test', dir, '--json'], { timeoutMs: 240_000 })
      expect(test.code, test.stdout + test.stderr).to.equal(0)
      const report = JSON.parse(test.stdout)
      expect(report).to.include({ name, ok: true, passed: 1 })
      expect(report.cases).to.have.length(1)
      expect(report.cases[0]).to.include({ passed: true, status: 'succeeded' })
    })
  }

  it('init without --dir creates ./NAME in the working folder and prints where it went', async function () {
    const cwd = await fresh()
    const r = await runCli(['skill', 'init', 'word-count', '--runtime', 'sh'], { cwd })
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stdout).to.include(join(cwd, 'word-count'))
    expect(await readdir(cwd)).to.deep.equal(['word-count'])
    expect((await stat(join(cwd, 'word-count', 'skill.json'))).isFile()).to.equal(true)
  })

  it('init into an existing empty folder fills it', async function () {
    const parent = await fresh()
    const dir = join(parent, 'empty')
    await mkdir(dir)
    const r = await runCli(['skill', 'init', 'fill-me', '--runtime', 'node', '--dir', dir, '--json'])
    expect(r.code, r.stderr).to.equal(0)
    expect((await readdir(dir)).sort()).to.deep.equal([...JSON.parse(r.stdout).files].sort())
    expect(await readdir(parent)).to.deep.equal(['empty'])
  })

  it('refuses a bad name: exit 2, one aas: line, nothing written', async function () {
    const cwd = await fresh()
    expectUsage(await runCli(['skill', 'init', 'Bad_Name', '--runtime', 'python3'], { cwd }), 'Bad_Name')
    expectUsage(await runCli(['skill', 'init', 'Bad_Name', '--runtime', 'sh', '--dir', join(cwd, 'x'), '--json'], { cwd }), 'Bad_Name --dir --json')
    expect(await readdir(cwd)).to.deep.equal([])
  })

  it('refuses an existing non-empty target folder: exit 2, one aas: line, its contents untouched', async function () {
    const parent = await fresh()
    const dir = join(parent, 'taken')
    await mkdir(join(dir, 'sub'), { recursive: true })
    await writeFile(join(dir, 'skill.json'), '{"mine": true}\n')
    await writeFile(join(dir, 'sub', 'notes.txt'), 'keep me\n')
    const before = await snapshot(parent)
    expectUsage(await runCli(['skill', 'init', 'taken', '--runtime', 'node', '--dir', dir]), 'non-empty --dir')
    // the default target (./NAME) is checked the same way
    expectUsage(await runCli(['skill', 'init', 'taken', '--runtime', 'sh', '--json'], { cwd: parent }), 'non-empty ./NAME')
    expect(await snapshot(parent)).to.deep.equal(before)
  })

  it('refuses an unknown runtime: exit 2, one aas: line, nothing written', async function () {
    const cwd = await fresh()
    expectUsage(await runCli(['skill', 'init', 'good-name', '--runtime', 'ruby'], { cwd }), '--runtime ruby')
    expectUsage(await runCli(['skill', 'init', 'good-name', '--runtime', 'ruby', '--json'], { cwd }), '--runtime ruby --json')
    expectUsage(await runCli(['skill', 'init', 'good-name'], { cwd }), 'no --runtime')
    expect(await readdir(cwd)).to.deep.equal([])
  })

  it('lint of a broken manifest: exit 1, one line per problem naming its field; --json lists them', async function () {
    const dir = await fresh()
    // missing "version", unknown "colour", runtime not in the enum, entrypoint not there,
    // an inputSchema that does not compile, and no tests
    await writeFile(join(dir, 'skill.json'), JSON.stringify({
      name: 'broken-skill',
      description: 'broken on purpose',
      runtime: 'ruby',
      entrypoint: 'main.py',
      colour: 'red',
      inputSchema: { type: 'nope' }
    }, null, 2))
    const fields = ['version', 'colour', 'runtime', 'entrypoint', 'inputSchema', 'tests']

    const r = await runCli(['skill', 'lint', dir])
    expect(r.code, r.stdout + r.stderr).to.equal(1)
    expect(r.stderr).to.equal('')
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines, r.stdout).to.have.length(fields.length)
    const named = lines.map(l => l.slice(0, l.indexOf(':')))
    expect(named.sort(), r.stdout).to.deep.equal([...fields].sort())

    const j = await runCli(['skill', 'lint', dir, '--json'])
    expect(j.code, j.stdout + j.stderr).to.equal(1)
    const out = JSON.parse(j.stdout)
    expect(out.ok).to.equal(false)
    expect(out.problems).to.be.an('array').with.length(fields.length)
    for (const p of out.problems) {
      expect(p).to.have.all.keys('field', 'message')
      expect(p.message).to.be.a('string').that.is.not.equal('')
    }
    expect(out.problems.map((p: { field: string }) => p.field).sort()).to.deep.equal([...fields].sort())
  })

  it('lint names nested fields and an empty tests list', async function () {
    const dir = await fresh()
    await writeFile(join(dir, 'main.sh'), 'echo {}\n')
    await writeFile(join(dir, 'skill.json'), JSON.stringify({
      name: 'nested-skill',
      version: '1.0.0',
      description: 'd',
      runtime: 'sh',
      entrypoint: 'main.sh',
      resources: { memoryMB: 1, gpus: 1 },
      tests: []
    }))
    const j = await runCli(['skill', 'lint', dir, '--json'])
    expect(j.code, j.stdout + j.stderr).to.equal(1)
    const out = JSON.parse(j.stdout)
    expect(out.ok).to.equal(false)
    expect(out.problems.map((p: { field: string }) => p.field).sort()).to.deep.equal(['resources.gpus', 'resources.memoryMB', 'tests'])
  })

  it('lint of a folder that does not exist: exit 1, one line', async function () {
    const missing = join(tmp.path, 'no-such-folder')
    const r = await runCli(['skill', 'lint', missing])
    expect(r.code, r.stdout + r.stderr).to.equal(1)
    // reported as a lint problem (on stdout, like the others), not as an "aas:" error
    expect(r.stderr).to.equal('')
    expect(r.stdout.trimEnd().split('\n'), r.stdout).to.have.length(1)
    expect(r.stdout).to.include(missing)

    const j = await runCli(['skill', 'lint', missing, '--json'])
    expect(j.code, j.stdout + j.stderr).to.equal(1)
    const out = JSON.parse(j.stdout)
    expect(out.ok).to.equal(false)
    expect(out.problems).to.have.length(1)
    expect(out.problems[0].message).to.include(missing)
  })
})
