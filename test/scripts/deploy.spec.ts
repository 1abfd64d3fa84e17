import { execFile } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'chai'
import { REPO, tempDir } from '../utils/cli-node.js'

/**
 * The systemd unit and the installer, checked with systemd's own tools and run for real:
 * `systemd-analyze verify` accepts the unit and the sandboxes' slice; the exposure
 * `systemd-analyze security` gives them is the one the README states; `install.sh --root`
 * installs user, data dir, code, config, units and the drop-in of the chosen mode into a
 * scratch root, and running it again changes nothing an operator edited.
 */
const exec = promisify(execFile)
const DEPLOY = join(REPO, 'scripts', 'deploy')
const INSTALL = join(DEPLOY, 'install.sh')

async function run (cmd: string, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await exec(cmd, args, { maxBuffer: 8 << 20 })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    if (typeof err.code !== 'number') throw err
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}

/** `systemd-analyze security --offline` of aas-node.service: its overall exposure, e.g. 6.6. */
async function exposure (args: string[]): Promise<number> {
  const r = await run('systemd-analyze', ['security', '--offline=true', ...args])
  const m = /Overall exposure level for aas-node\.service: (\d+\.\d)/.exec(r.stdout + r.stderr)
  expect(m, r.stdout + r.stderr).to.not.equal(null)
  return Number(m![1])
}

describe('scripts/deploy: systemd unit and install.sh', function () {
  this.timeout(120_000)

  it('systemd-analyze verify accepts the unit and the slice', async () => {
    const r = await run('systemd-analyze', ['verify', join(DEPLOY, 'aas-node.service'), join(DEPLOY, 'aas-sandboxes.slice')])
    expect(r.stderr).to.equal('')
    expect(r.code).to.equal(0)
  })

  it('has the hardening the README promises, and the exposure the README states', async () => {
    const unit = await readFile(join(DEPLOY, 'aas-node.service'), 'utf8')
    for (const line of ['User=aas', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'PrivateTmp=yes', 'ProtectHome=yes', 'Restart=on-failure', 'MemoryMax=', 'CPUQuota=']) {
      expect(unit, line).to.match(new RegExp(`^${line}`, 'm'))
    }
    expect(unit).to.match(/^ReadWritePaths=.*\/var\/lib\/aas .*\/var\/lib\/containers/m)
    expect(unit).to.match(/^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6/m)
    const readme = await readFile(join(REPO, 'README.md'), 'utf8')
    const stated = /rates the unit (\d+\.\d) as the `aas` user and (\d+\.\d) with the root drop-in/.exec(readme)
    expect(stated, 'the README states the exposure of both modes').to.not.equal(null)
    expect(await exposure([join(DEPLOY, 'aas-node.service')])).to.equal(Number(stated![1]))

    const tmp = await tempDir('aas-install-')
    try {
      const r = await run('bash', [INSTALL, '--root', tmp.path, '--mode', 'root'])
      expect(r.code, r.stderr).to.equal(0)
      expect(await exposure([`--root=${tmp.path}`, 'aas-node.service'])).to.equal(Number(stated![2]))
    } finally {
      await tmp.remove()
    }
  })

  it('install.sh installs user, data dir, code, config and units, and a second run keeps what the operator edited', async () => {
    const tmp = await tempDir('aas-install-')
    const at = (p: string): string => join(tmp.path, p)
    try {
      const first = await run('bash', [INSTALL, '--root', tmp.path, '--mode', 'root'])
      expect(first.code, first.stderr).to.equal(0)
      const passwd = await readFile(at('etc/passwd'), 'utf8')
      const users = passwd.split('\n').filter(l => l.startsWith('aas:'))
      expect(users).to.have.length(1)
      const [, , uid, , , home, shell] = users[0].split(':')
      expect(home).to.equal('/var/lib/aas')
      expect(shell).to.match(/nologin$/)
      const data = await stat(at('var/lib/aas'))
      expect(data.mode & 0o777).to.equal(0o700)
      expect(data.uid).to.equal(Number(uid))
      expect(await readFile(at('etc/aas/aas.json'), 'utf8')).to.equal(await readFile(join(DEPLOY, 'aas.json'), 'utf8'))
      expect(await readFile(at('etc/systemd/system/aas-node.service'), 'utf8')).to.equal(await readFile(join(DEPLOY, 'aas-node.service'), 'utf8'))
      expect(await readFile(at('etc/systemd/system/aas-node.service.d/10-mode.conf'), 'utf8')).to.match(/^User=root$/m)
      const version = await run(process.execPath, [at('opt/aas/bin/aas.js'), '--version'])
      expect(version.code, version.stderr).to.equal(0)
      expect(version.stdout.trim()).to.match(/^\d+\.\d+\.\d+/)

      // the operator edits the config; a second run (another mode) keeps it, swaps the code
      await writeFile(at('etc/aas/aas.json'), '{ "dataDir": "/var/lib/aas", "bootstrap": ["/ip4/10.0.0.5/tcp/7400"] }\n')
      const second = await run('bash', [INSTALL, '--root', tmp.path, '--mode', 'user'])
      expect(second.code, second.stderr).to.equal(0)
      expect(await readFile(at('etc/aas/aas.json'), 'utf8')).to.match(/10\.0\.0\.5/)
      expect((await readFile(at('etc/passwd'), 'utf8')).split('\n').filter(l => l.startsWith('aas:'))).to.deep.equal(users)
      const dropIn = await readFile(at('etc/systemd/system/aas-node.service.d/10-mode.conf'), 'utf8')
      expect(dropIn).to.match(/^NoNewPrivileges=no$/m)
      expect(dropIn).to.not.match(/^User=root$/m)
      expect(await readFile(at('etc/subuid'), 'utf8')).to.match(/^aas:\d+:65536$/m)
      expect((await stat(at('opt/aas.previous/bin/aas.js'))).isFile()).to.equal(true)
    } finally {
      await tmp.remove()
    }
  })

  it('install.sh refuses bad input with one line and installs nothing', async () => {
    const tmp = await tempDir('aas-install-')
    try {
      const r = await run('bash', [INSTALL, '--root', tmp.path, '--mode', 'sideways'])
      expect(r.code).to.equal(2)
      expect(r.stderr.trim().split('\n')).to.have.length(1)
      expect(r.stderr).to.match(/^install\.sh: --mode must be auto, root or user/)
      expect((await run('find', [tmp.path, '-mindepth', '1'])).stdout).to.equal('')
    } finally {
      await tmp.remove()
    }
  })
})
