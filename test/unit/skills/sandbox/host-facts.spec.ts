import { createHash } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { hostFactsKey, loadHostFacts, type HostFacts } from '../../../../skills/sandbox/index.js'

/**
 * The host facts cache (skills/sandbox/host.ts, facts-cache.ts): a probe runs only when the
 * file is missing, carries another key, does not parse or has the wrong shape, or names a
 * seccomp profile that is gone or altered; every miss rewrites the file (0600). The key moves
 * when the podman binary on PATH does.
 */
describe('sandbox host facts cache', () => {
  let dir: string
  let probes: number
  const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
    podmanVersion: '4.3.1', rootless: false, cgroupVersion: 'v1', ociRuntime: 'runc', limitsEnforced: true,
    cgroupManager: 'cgroupfs', eventLogger: 'file', imageStore: '/var/lib/containers/storage/overlay-images/images.json', ...over
  })
  const probe = async (): Promise<HostFacts> => { probes++; return facts({ podmanVersion: `probe-${probes}` }) }
  const file = (): string => join(dir, `podman-host-${process.getuid?.() ?? 'u'}.json`)

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aas-facts-'))
    probes = 0
  })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('probes once, writes the file 0600, and reads it back while the key holds', async () => {
    const first = await loadHostFacts({ cacheDir: dir, key: 'k1', probe })
    const again = await loadHostFacts({ cacheDir: dir, key: 'k1', probe })
    expect(probes).to.equal(1)
    expect(again).to.deep.equal(first)
    expect((await stat(file())).mode & 0o777).to.equal(0o600)
    expect(JSON.parse(await readFile(file(), 'utf8'))).to.include({ key: 'k1' })
  })

  it('probes again when the key changes, and keeps the new key', async () => {
    await loadHostFacts({ cacheDir: dir, key: 'k1', probe })
    const changed = await loadHostFacts({ cacheDir: dir, key: 'k2', probe })
    expect(probes).to.equal(2)
    expect(changed.podmanVersion).to.equal('probe-2')
    expect(JSON.parse(await readFile(file(), 'utf8')).key).to.equal('k2')
    await loadHostFacts({ cacheDir: dir, key: 'k2', probe })
    expect(probes).to.equal(2)
  })

  for (const [what, text] of [
    ['not JSON', '{"v":1,"key":"k1","facts":{'],
    ['empty', ''],
    ['of another version', JSON.stringify({ v: 99, key: 'k1', facts: facts() })],
    ['missing a field', JSON.stringify({ v: 1, key: 'k1', facts: { ...facts(), ociRuntime: undefined } })],
    ['of a wrong type', JSON.stringify({ v: 1, key: 'k1', facts: { ...facts(), cgroupVersion: 'v3' } })]
  ] as const) {
    it(`ignores a cache file that is ${what} and rebuilds it`, async () => {
      await writeFile(file(), text, { mode: 0o600 })
      const got = await loadHostFacts({ cacheDir: dir, key: 'k1', probe })
      expect(probes).to.equal(1)
      expect(got.podmanVersion).to.equal('probe-1')
      const written = JSON.parse(await readFile(file(), 'utf8'))
      expect(written).to.deep.include({ v: 1, key: 'k1' })
      expect(written.facts.podmanVersion).to.equal('probe-1')
    })
  }

  it('probes again when the seccomp profile it names is gone or altered', async () => {
    const text = '{"defaultAction":"SCMP_ACT_ERRNO"}'
    const profile = join(dir, `seccomp-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.json`)
    await writeFile(profile, text)
    const withProfile = async (): Promise<HostFacts> => { probes++; return facts({ seccompProfile: profile }) }
    await loadHostFacts({ cacheDir: dir, key: 'k1', probe: withProfile })
    await loadHostFacts({ cacheDir: dir, key: 'k1', probe: withProfile })
    expect(probes).to.equal(1)
    await writeFile(profile, '{"defaultAction":"SCMP_ACT_ALLOW"}')
    await loadHostFacts({ cacheDir: dir, key: 'k1', probe: withProfile })
    expect(probes).to.equal(2)
    await rm(profile)
    await loadHostFacts({ cacheDir: dir, key: 'k1', probe: withProfile })
    expect(probes).to.equal(3)
  })

  it('changes the key when the podman binary on PATH changes, and only then', async () => {
    const bin = join(dir, 'bin')
    await mkdir(bin)
    const podman = join(bin, 'podman')
    await writeFile(podman, '#!/bin/sh\n')
    await chmod(podman, 0o755)
    const env = { PATH: bin }
    const k1 = await hostFactsKey(env)
    expect(await hostFactsKey(env)).to.equal(k1)
    await utimes(podman, new Date(), new Date(Date.now() + 60_000)) // an upgrade in place
    const k2 = await hostFactsKey(env)
    expect(k2).to.not.equal(k1)
    await writeFile(podman, '#!/bin/sh\n# a new version\n')
    expect(await hostFactsKey(env)).to.not.equal(k2)
    expect(await hostFactsKey({ PATH: join(dir, 'nowhere') })).to.not.equal(k1)
  })
})
