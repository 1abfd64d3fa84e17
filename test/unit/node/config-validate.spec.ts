import { expect } from 'chai'
import { multiaddr } from '@multiformats/multiaddr'
import { ConfigError, configValidator, defaultNodeConfig, resolveConfig } from '../../../node/config/index.js'

/**
 * What the CLI's fast path for settings relies on (issue 12): the config validator, generated
 * at build time or compiled when stale, checks the whole config; and the default addresses,
 * which resolveConfig does not parse again, do parse.
 */
describe('node/config: validator and default addresses', () => {
  it('the default listen and bootstrap addresses are multiaddrs', () => {
    const d = defaultNodeConfig()
    expect(d.listen.length).to.be.greaterThan(0)
    for (const a of [...d.listen, ...d.bootstrap]) expect(() => multiaddr(a), a).to.not.throw()
  })

  it('an address beside the defaults is still parsed', async () => {
    const err = await resolveConfig({ flags: { listen: [...defaultNodeConfig().listen, 'not/a/multiaddr'] } }).catch(e => e)
    expect(err).to.be.instanceOf(ConfigError)
    expect(err.name).to.equal('ConfigError')
    expect(err.message).to.match(/^listen: "not\/a\/multiaddr" is not a multiaddr/)
    const ok = await resolveConfig({ flags: { bootstrap: ['/ip4/127.0.0.1/tcp/7400'] } })
    expect(ok.bootstrap).to.deep.equal(['/ip4/127.0.0.1/tcp/7400'])
  })

  it('the validator accepts the defaults and names what is wrong', async () => {
    const validate = await configValidator()
    expect(await configValidator()).to.equal(validate) // made once
    expect(validate(defaultNodeConfig())).to.equal(true)
    expect(validate({ ...defaultNodeConfig(), nope: 1 })).to.equal(false)
    expect(validate.errors?.[0]).to.include({ keyword: 'additionalProperties' })
    expect(validate({ ...defaultNodeConfig(), logLevel: 'loud' })).to.equal(false)
  })
})
