import { expect } from 'chai'
import { Secret, TOTP, URI } from 'otpauth'
import { acceptTotp, newTotpSecret, totpCode, totpStep, totpUri } from '../../../../node/auth/index.js'

/**
 * TOTP: RFC 6238 Appendix B's vectors through the library we use (SHA-1, SHA-256, SHA-512, 8
 * digits), our 6-digit SHA-1 codes against the same vectors, and the acceptance rule: T and
 * T−1 accepted, T−2 and T+1 refused, a step accepted only after the last accepted one.
 */
describe('node/auth: TOTP', () => {
  // RFC 6238 Appendix B: the seeds are these ASCII strings, 20, 32 and 64 bytes long
  const seeds = {
    SHA1: '12345678901234567890',
    SHA256: '12345678901234567890123456789012',
    SHA512: '1234567890123456789012345678901234567890123456789012345678901234'
  }
  const vectors: Array<[number, string, string, string]> = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826']
  ]

  it('gives RFC 6238 Appendix B codes for SHA-1, SHA-256 and SHA-512', () => {
    for (const [t, sha1, sha256, sha512] of vectors) {
      for (const [algorithm, expected] of [['SHA1', sha1], ['SHA256', sha256], ['SHA512', sha512]] as const) {
        const secret = Secret.fromLatin1(seeds[algorithm])
        expect(TOTP.generate({ secret, algorithm, digits: 8, period: 30, timestamp: t * 1000 }), `${algorithm} at ${t}`).to.equal(expected)
      }
    }
  })

  it('our 6-digit SHA-1 code of each Appendix B time is the vector\'s last six digits', () => {
    const secret = Secret.fromLatin1(seeds.SHA1).base32
    for (const [t, sha1] of vectors) {
      const step = totpStep(t * 1000)
      expect(step).to.equal(Math.floor(t / 30))
      expect(totpCode(secret, step)).to.equal(sha1.slice(-6))
      expect(acceptTotp(secret, sha1.slice(-6), t * 1000, -1)).to.equal(step)
    }
  })

  it('accepts T and T−1, refuses T−2 and T+1', () => {
    const secret = newTotpSecret()
    const now = 1_700_000_000_000
    const T = totpStep(now)
    expect(acceptTotp(secret, totpCode(secret, T), now, -1)).to.equal(T)
    expect(acceptTotp(secret, totpCode(secret, T - 1), now, -1)).to.equal(T - 1)
    expect(acceptTotp(secret, totpCode(secret, T - 2), now, -1)).to.equal(undefined)
    expect(acceptTotp(secret, totpCode(secret, T + 1), now, -1)).to.equal(undefined)
    expect(acceptTotp(secret, 'abcdef', now, -1)).to.equal(undefined)
    expect(acceptTotp(secret, totpCode(secret, T) + '0', now, -1)).to.equal(undefined)
  })

  it('accepts a step only after the last accepted one', () => {
    const secret = newTotpSecret()
    const now = 1_700_000_000_000
    const T = totpStep(now)
    expect(acceptTotp(secret, totpCode(secret, T), now, T)).to.equal(undefined)
    expect(acceptTotp(secret, totpCode(secret, T - 1), now, T)).to.equal(undefined)
    expect(acceptTotp(secret, totpCode(secret, T - 1), now, T - 1)).to.equal(undefined)
    expect(acceptTotp(secret, totpCode(secret, T), now, T - 1)).to.equal(T)
  })

  it('writes an otpauth:// URI with issuer AAS and label <host>:<user> that an app reads back', () => {
    const secret = newTotpSecret()
    const uri = totpUri(secret, 'node-1:alice')
    expect(uri.startsWith('otpauth://totp/')).to.equal(true)
    const parsed = URI.parse(uri)
    expect(parsed).to.be.instanceOf(TOTP)
    const t = parsed as TOTP
    expect(t.issuer).to.equal('AAS')
    expect(t.label).to.equal('node-1:alice')
    expect(t.algorithm).to.equal('SHA1')
    expect(t.digits).to.equal(6)
    expect(t.period).to.equal(30)
    expect(t.secret.base32).to.equal(secret)
  })
})
