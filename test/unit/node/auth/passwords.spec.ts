import { expect } from 'chai'
import { defaultScryptParams, hashPassword, parseHash, verifyPassword } from '../../../../node/auth/index.js'

/** Password hashes: scrypt at N=2^17, r=8, p=1 with the parameters in the stored string. */
describe('node/auth: passwords', () => {
  it('hashes with scrypt N=2^17, r=8, p=1, a 16-byte salt and a 32-byte key, and verifies', async () => {
    const stored = await hashPassword('correct horse battery staple')
    expect(stored).to.match(/^scrypt\$17\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/)
    const parsed = parseHash(stored)!
    expect(parsed.params).to.deep.equal(defaultScryptParams)
    expect(parsed.salt.length).to.equal(16)
    expect(parsed.key.length).to.equal(32)
    expect(await verifyPassword('correct horse battery staple', stored)).to.equal(true)
    expect(await verifyPassword('correct horse battery stapl', stored)).to.equal(false)
  })

  it('salts every hash', async () => {
    const params = { logN: 10, r: 8, p: 1 }
    expect(await hashPassword('same password here', params)).to.not.equal(await hashPassword('same password here', params))
  })

  it('verifies with the parameters stored in the hash, not the defaults', async () => {
    const cheap = await hashPassword('an older cheaper hash', { logN: 10, r: 4, p: 2 })
    expect(cheap.startsWith('scrypt$10$4$2$')).to.equal(true)
    expect(await verifyPassword('an older cheaper hash', cheap)).to.equal(true)
    // the same key under other parameters is another hash
    const [, , , , salt, key] = cheap.split('$')
    expect(await verifyPassword('an older cheaper hash', `scrypt$11$4$2$${salt}$${key}`)).to.equal(false)
  })

  it('never verifies a malformed or out-of-bounds stored hash', async () => {
    const ok = await hashPassword('a password to break', { logN: 10, r: 8, p: 1 })
    const [, , , , salt, key] = ok.split('$')
    for (const bad of ['', 'plain', `bcrypt$10$8$1$${salt}$${key}`, `scrypt$40$8$1$${salt}$${key}`, `scrypt$10$8$1$${salt}$`, `scrypt$10$8$1$$${key}`]) {
      expect(await verifyPassword('a password to break', bad), bad).to.equal(false)
    }
  })
})
