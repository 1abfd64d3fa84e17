import { expect } from 'chai'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadManifest, ManifestError, type ManifestErrorCode } from '../../skills/manifest/index.js'
import { runCli, tempDir } from '../utils/cli-node.js'

/**
 * Bad skill folders are refused before anything runs: loadManifest throws a ManifestError
 * whose `code` says what kind of problem and whose `field` names the culprit, and the CLI
 * turns it into one `aas: ` line on stderr and a non-zero exit.
 */
const GOOD = {
  name: 'probe-skill',
  version: '1.0.0',
  description: 'a skill folder made by a test',
  runtime: 'python3',
  entrypoint: 'main.py'
}

interface Case {
  title: string
  code: ManifestErrorCode
  field: string | undefined
  /** Lays out the skill folder (it exists and is empty). */
  make: (dir: string, outside: string) => Promise<void>
}

async function writeManifest (dir: string, value: unknown): Promise<void> {
  await writeFile(join(dir, 'skill.json'), typeof value === 'string' ? value : JSON.stringify(value, null, 2))
}

async function withMain (dir: string, manifest: unknown): Promise<void> {
  await writeFile(join(dir, 'main.py'), 'print("{}")\n')
  await writeManifest(dir, manifest)
}

const { version: _version, ...noVersion } = GOOD

const cases: Case[] = [
  {
    title: 'a missing required field (no version)',
    code: 'ERR_MANIFEST_SCHEMA',
    field: 'version',
    make: async (dir) => { await withMain(dir, noVersion) }
  },
  {
    title: 'a field of the wrong type (version: 1)',
    code: 'ERR_MANIFEST_SCHEMA',
    field: 'version',
    make: async (dir) => { await withMain(dir, { ...GOOD, version: 1 }) }
  },
  {
    title: 'a bad name (uppercase and underscore)',
    code: 'ERR_MANIFEST_SCHEMA',
    field: 'name',
    make: async (dir) => { await withMain(dir, { ...GOOD, name: 'Bad_Name' }) }
  },
  {
    title: 'an unknown runtime',
    code: 'ERR_MANIFEST_SCHEMA',
    field: 'runtime',
    make: async (dir) => { await withMain(dir, { ...GOOD, runtime: 'ruby' }) }
  },
  {
    title: 'an unknown top-level field',
    code: 'ERR_MANIFEST_SCHEMA',
    field: 'privileged',
    make: async (dir) => { await withMain(dir, { ...GOOD, privileged: true }) }
  },
  {
    title: 'a resource limit out of range',
    code: 'ERR_MANIFEST_SCHEMA',
    field: 'resources.memoryMB',
    make: async (dir) => { await withMain(dir, { ...GOOD, resources: { memoryMB: 1 } }) }
  },
  {
    title: 'an entrypoint outside the folder (../x.py)',
    code: 'ERR_ENTRYPOINT',
    field: 'entrypoint',
    make: async (dir, outside) => {
      await writeFile(join(outside, 'x.py'), 'print("{}")\n')
      await withMain(dir, { ...GOOD, entrypoint: '../x.py' })
    }
  },
  {
    title: 'an entrypoint climbing out through a subfolder (lib/../../x.py)',
    code: 'ERR_ENTRYPOINT',
    field: 'entrypoint',
    make: async (dir, outside) => {
      await mkdir(join(dir, 'lib'))
      await writeFile(join(outside, 'x.py'), 'print("{}")\n')
      await withMain(dir, { ...GOOD, entrypoint: 'lib/../../x.py' })
    }
  },
  {
    title: 'an absolute entrypoint',
    code: 'ERR_MANIFEST_SCHEMA',
    field: 'entrypoint',
    make: async (dir) => { await withMain(dir, { ...GOOD, entrypoint: '/etc/passwd' }) }
  },
  {
    title: 'an entrypoint that does not exist',
    code: 'ERR_ENTRYPOINT',
    field: 'entrypoint',
    make: async (dir) => { await withMain(dir, { ...GOOD, entrypoint: 'missing.py' }) }
  },
  {
    title: 'an entrypoint that is a directory',
    code: 'ERR_ENTRYPOINT',
    field: 'entrypoint',
    make: async (dir) => {
      await mkdir(join(dir, 'src'))
      await withMain(dir, { ...GOOD, entrypoint: 'src' })
    }
  },
  {
    title: 'an entrypoint that is a symlink to a file outside the folder',
    code: 'ERR_SYMLINK',
    field: 'entrypoint',
    make: async (dir, outside) => {
      await writeFile(join(outside, 'x.py'), 'print("{}")\n')
      await symlink(join(outside, 'x.py'), join(dir, 'run.py'))
      await withMain(dir, { ...GOOD, entrypoint: 'run.py' })
    }
  },
  {
    title: 'a symlink inside the folder pointing outside it',
    code: 'ERR_SYMLINK',
    field: 'data.txt',
    make: async (dir) => {
      await symlink('/etc/passwd', join(dir, 'data.txt'))
      await withMain(dir, GOOD)
    }
  },
  {
    title: 'a symlinked directory deeper in the folder',
    code: 'ERR_SYMLINK',
    field: join('lib', 'host'),
    make: async (dir, outside) => {
      await mkdir(join(dir, 'lib'))
      await symlink(outside, join(dir, 'lib', 'host'))
      await withMain(dir, GOOD)
    }
  },
  {
    title: 'skill.json itself a symlink',
    code: 'ERR_SYMLINK',
    field: 'skill.json',
    make: async (dir, outside) => {
      await writeFile(join(dir, 'main.py'), 'print("{}")\n')
      await writeManifest(outside, GOOD)
      await symlink(join(outside, 'skill.json'), join(dir, 'skill.json'))
    }
  },
  {
    title: 'invalid JSON',
    code: 'ERR_MANIFEST_JSON',
    field: undefined,
    make: async (dir) => { await withMain(dir, '{"name": "probe-skill", "version": "1.0.0",') }
  },
  {
    title: 'no skill.json',
    code: 'ERR_MANIFEST_MISSING',
    field: undefined,
    make: async (dir) => { await writeFile(join(dir, 'main.py'), 'print("{}")\n') }
  }
]

describe('skill manifests: bad folders are refused', function () {
  this.timeout(30_000)
  let root: { path: string, remove: () => Promise<void> }
  let n = 0

  /** A fresh skill folder and a sibling "outside" folder, under one temp dir. */
  async function layout (c: Case): Promise<string> {
    const base = join(root.path, String(n++))
    const dir = join(base, 'skill')
    const outside = join(base, 'outside')
    await mkdir(dir, { recursive: true })
    await mkdir(outside)
    await c.make(dir, outside)
    return dir
  }

  before(async () => { root = await tempDir('aas-manifest-') })
  after(async () => { await root.remove() })

  it('a good folder loads', async () => {
    const dir = await layout({ title: 'good', code: 'ERR_SKILL_DIR', field: undefined, make: async (d) => { await withMain(d, { ...GOOD, resources: { memoryMB: 64, timeoutS: 2 } }) } })
    const m = await loadManifest(dir)
    expect(m.name).to.equal('probe-skill')
    expect(m.resources).to.deep.equal({ memoryMB: 64, timeoutS: 2 })
  })

  it('a path that is not a folder is ERR_SKILL_DIR', async () => {
    const err = await loadManifest(join(root.path, 'nope')).then(() => null, (e: unknown) => e)
    expect(err).to.be.instanceOf(ManifestError)
    expect((err as ManifestError).code).to.equal('ERR_SKILL_DIR')
  })

  for (const c of cases) {
    it(`${c.title}: ${c.code}${c.field != null ? `, field "${c.field}"` : ''}`, async () => {
      const dir = await layout(c)
      const err = await loadManifest(dir).then(() => null, (e: unknown) => e)
      expect(err, 'loadManifest should reject').to.be.instanceOf(ManifestError)
      const me = err as ManifestError
      expect(me.code, me.message).to.equal(c.code)
      expect(me.field, me.message).to.equal(c.field)
      expect(me.message).to.not.include('\n')
    })
  }

  describe('aas skill run on a bad folder', () => {
    for (const c of cases.filter(c => ['no version', 'version: 1', '../x.py', 'does not exist', 'pointing outside', 'invalid JSON'].some(k => c.title.includes(k)))) {
      it(`${c.title}: exits non-zero with one "aas: " line on stderr`, async () => {
        const dir = await layout(c)
        const r = await runCli(['skill', 'run', dir, '--input', '{}'])
        expect(r.code, r.stderr).to.not.equal(0)
        expect(r.code, r.stderr).to.not.equal(null)
        const lines = r.stderr.split('\n').filter(l => l.trim() !== '')
        expect(lines, r.stderr).to.have.length(1)
        expect(lines[0]).to.match(/^aas: /)
        expect(r.stderr).to.not.match(/\n\s+at /)
        expect(r.stdout).to.equal('')
        if (c.field != null) expect(lines[0]).to.include(c.field)
      })
    }
  })
})
