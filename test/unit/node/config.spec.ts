import { expect } from 'chai'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { resolveConfig, ConfigError, defaultNodeConfig, parseHostPort } from '../../../node/index.js'
import { tempDir } from '../../utils/cli-node.js'

describe('node: configuration', () => {
  it('works with no configuration at all: loopback API, data dir under home', async () => {
    const c = await resolveConfig()
    expect(c.api).to.equal('127.0.0.1:7401')
    expect(c.dataDir).to.match(/\.aas$/)
    expect(c).to.deep.equal({ ...defaultNodeConfig(), dataDir: c.dataDir })
  })

  it('layers file, then environment, then flags (later wins)', async () => {
    const dir = await tempDir()
    try {
      const file = join(dir.path, 'config.json')
      await writeFile(file, JSON.stringify({ api: '127.0.0.1:1111', logLevel: 'debug', gossip: { maxAgeS: 60 }, listen: ['/ip4/127.0.0.1/tcp/1'] }))
      const c = await resolveConfig({
        file,
        env: { AAS_API: '127.0.0.1:2222', AAS_LISTEN: '/ip4/127.0.0.1/tcp/2, /ip4/127.0.0.1/tcp/3' },
        flags: { api: '127.0.0.1:3333' }
      })
      expect(c.api).to.equal('127.0.0.1:3333')
      expect(c.listen).to.deep.equal(['/ip4/127.0.0.1/tcp/2', '/ip4/127.0.0.1/tcp/3'])
      expect(c.logLevel).to.equal('debug')
      expect(c.gossip).to.deep.equal({ ...defaultNodeConfig().gossip, maxAgeS: 60 })
    } finally { await dir.remove() }
  })

  const bad: Array<[string, object]> = [
    ['an unknown setting', { flags: { nope: 1 } }],
    ['a wrong type', { flags: { gossip: { maxAgeS: 'x' } } }],
    ['an out-of-range value', { flags: { mesh: { targetPeers: -1 } } }],
    ['a bad log level', { env: { AAS_LOG_LEVEL: 'loud' } }],
    ['a bad multiaddr', { flags: { listen: ['not/a/multiaddr'] } }],
    ['a bad API address', { flags: { api: 'localhost' } }]
  ]
  for (const [what, init] of bad) {
    it(`refuses ${what} with ConfigError`, async () => {
      try {
        await resolveConfig(init as any)
        expect.fail('resolved')
      } catch (err: any) {
        expect(err).to.be.instanceOf(ConfigError)
        expect(err.name).to.equal('ConfigError')
        expect(err.message).to.not.include('\n')
      }
    })
  }

  it('refuses a config file that is not JSON', async () => {
    const dir = await tempDir()
    try {
      const file = join(dir.path, 'c.json')
      await writeFile(file, '{ nope')
      const err = await resolveConfig({ file }).catch(e => e)
      expect(err.code).to.equal('ERR_CONFIG_FILE')
    } finally { await dir.remove() }
  })

  it('parses HOST:PORT including IPv6', () => {
    expect(parseHostPort('[::1]:80')).to.deep.equal({ host: '::1', port: 80 })
    expect(() => parseHostPort('1.2.3.4:99999')).to.throw(ConfigError)
  })
})
