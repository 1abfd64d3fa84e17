import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import fc from 'fast-check'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { base58btc } from 'multiformats/bases/base58'
import { createAuthorKey, loadAuthorKey, KeyFileError, AUTHOR_KEY_TYPE } from '../../../skills/keys.js'
import {
  isPublicKeyText, manifestDigest, parsePublicKeyText, publicKeyText, signRelease, verifyRelease, type Release,
  domainSeparated, encodeCanonical, ENVELOPE_DOMAIN, RELEASE_DOMAIN
} from '../../../protocol/index.js'
import { refusal } from '../../utils/refusal.js'

/**
 * Author keys: written once with mode 0600 and never overwritten, refused when other users
 * could read them or when they are not keys; their public text form round-trips; a release
 * signed with one verifies, and changing any of its fields makes it fail.
 */
describe('skills/keys: author key files', function () {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'aas-keys-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('writes a new key with mode 0600 that loads back to the same key', async () => {
    const file = join(dir, 'author.json')
    const key = await createAuthorKey(file)
    expect((await stat(file)).mode & 0o777).to.equal(0o600)
    expect(key.publicKey).to.match(/^z6Mk/)
    const doc = JSON.parse(await readFile(file, 'utf8'))
    expect(doc.type).to.equal(AUTHOR_KEY_TYPE)
    expect(doc.publicKey).to.equal(key.publicKey)
    const loaded = await loadAuthorKey(file)
    expect(loaded.publicKey).to.equal(key.publicKey)
    expect(loaded.privateKey.equals(key.privateKey)).to.equal(true)
    // no temp file left beside it
    expect(await readdir(dir)).to.deep.equal(['author.json'])
  })

  it('never overwrites: ERR_KEY_EXISTS, the original file unchanged', async () => {
    const file = join(dir, 'author.json')
    await createAuthorKey(file)
    const before = await readFile(file)
    const err = await refusal(createAuthorKey(file))
    expect(err).to.be.instanceOf(KeyFileError)
    expect(err.code).to.equal('ERR_KEY_EXISTS')
    expect((await readFile(file)).equals(before)).to.equal(true)
    expect((await stat(file)).mode & 0o777).to.equal(0o600)
    expect(await readdir(dir)).to.deep.equal(['author.json'])

    // nor any other file that happens to be there
    const other = join(dir, 'notes.txt')
    await writeFile(other, 'keep me')
    expect((await refusal(createAuthorKey(other))).code).to.equal('ERR_KEY_EXISTS')
    expect(await readFile(other, 'utf8')).to.equal('keep me')
  })

  it('refuses to load a key other users can read or write: ERR_KEY_MODE', async () => {
    const file = join(dir, 'author.json')
    await createAuthorKey(file)
    for (const mode of [0o640, 0o604, 0o620, 0o660, 0o644]) {
      await chmod(file, mode)
      const err = await refusal(loadAuthorKey(file))
      expect(err, mode.toString(8)).to.be.instanceOf(KeyFileError)
      expect(err.code).to.equal('ERR_KEY_MODE')
      expect(err.message).to.match(/chmod 600/)
    }
    await chmod(file, 0o400)
    expect((await loadAuthorKey(file)).publicKey).to.match(/^z6Mk/)
  })

  it('refuses garbage and keys that are not author keys: ERR_KEY_INVALID; a missing file: ERR_KEY_READ', async () => {
    const file = join(dir, 'bad.json')
    await createAuthorKey(join(dir, 'good.json'))
    const good = JSON.parse(await readFile(join(dir, 'good.json'), 'utf8'))
    const other = await createAuthorKey(join(dir, 'other.json'))
    const cases: Array<[string, string]> = [
      ['not JSON', 'this is not a key'],
      ['empty', ''],
      ['JSON null', 'null'],
      ['wrong type tag', JSON.stringify({ ...good, type: 'ssh-rsa' })],
      ['private key not base64 protobuf', JSON.stringify({ ...good, privateKey: 'AAAA' })],
      ['public key of another key', JSON.stringify({ ...good, publicKey: other.publicKey })],
      ['no private key', JSON.stringify({ type: good.type, publicKey: good.publicKey })]
    ]
    for (const [what, text] of cases) {
      await rm(file, { force: true })
      await writeFile(file, text, { mode: 0o600 })
      const err = await refusal(loadAuthorKey(file))
      expect(err, what).to.be.instanceOf(KeyFileError)
      expect(err.code, what).to.equal('ERR_KEY_INVALID')
    }
    // a secp256k1 key in the right wrapper is not an author key
    const secp = await generateKeyPair('secp256k1')
    await rm(file, { force: true })
    await writeFile(file, JSON.stringify({ ...good, privateKey: Buffer.from(privateKeyToProtobuf(secp)).toString('base64') }), { mode: 0o600 })
    expect((await refusal(loadAuthorKey(file))).code).to.equal('ERR_KEY_INVALID')

    expect((await refusal(loadAuthorKey(join(dir, 'missing.json')))).code).to.equal('ERR_KEY_READ')
  })
})

describe('protocol/keys: public key text', () => {
  it('round-trips any 32 bytes through the z6Mk… form', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (raw) => {
      const text = publicKeyText(raw)
      expect(text).to.match(/^z6Mk[1-9A-HJ-NP-Za-km-z]+$/)
      expect(isPublicKeyText(text)).to.equal(true)
      expect(Buffer.from(parsePublicKeyText(text)).equals(Buffer.from(raw))).to.equal(true)
    }), { numRuns: 300 })
  })

  it('matches the key a libp2p ed25519 key pair has', async () => {
    const key = await generateKeyPair('Ed25519')
    const text = publicKeyText(key.publicKey.raw)
    expect(Buffer.from(parsePublicKeyText(text)).equals(Buffer.from(key.publicKey.raw))).to.equal(true)
  })

  it('refuses text that is not an ed25519 public key', () => {
    expect(() => publicKeyText(new Uint8Array(31))).to.throw(TypeError)
    const notKeys = ['', 'z', 'hello', 'Z6Mk', `m${'A'.repeat(40)}`, `z${'0'.repeat(45)}`]
    for (const t of notKeys) {
      expect(isPublicKeyText(t), t).to.equal(false)
      expect(() => parsePublicKeyText(t), t).to.throw(TypeError)
    }
    // right base, wrong multicodec prefix (secp256k1-pub is 0xe7 0x01)
    const secpPrefixed = base58btc.encode(Uint8Array.from([0xe7, 0x01, ...new Uint8Array(33).fill(2)]))
    expect(isPublicKeyText(secpPrefixed)).to.equal(false)
    // right prefix, wrong length
    expect(isPublicKeyText(base58btc.encode(Uint8Array.from([0xed, 0x01, ...new Uint8Array(31)])))).to.equal(false)
  })
})

describe('protocol/release: signed releases', () => {
  let key: PrivateKey
  let release: Release
  const manifest = { name: 'csv-clean', version: '1.2.3', description: 'd', runtime: 'python3', entrypoint: 'main.py', tags: ['a', 'b'] }

  before(async () => {
    key = await generateKeyPair('Ed25519')
    release = await signRelease(key, {
      name: 'csv-clean',
      version: '1.2.3',
      cid: 'bafyreigp7vcegov3sme3pxms7jjhfa52gumfmtsw67suir4t3way3gsooe',
      size: 4466,
      publishedAt: 1_750_000_000_000,
      manifestDigest: manifestDigest(manifest)
    })
  })

  it('signs with the key\'s public text as author, and verifies', async () => {
    expect(release.author).to.equal(publicKeyText(key.publicKey.raw))
    expect(release.signature).to.match(/^[A-Za-z0-9_-]{86}$/)
    expect(await verifyRelease(release)).to.equal(true)
    // a copy verifies too (nothing hidden outside the fields)
    expect(await verifyRelease(JSON.parse(JSON.stringify(release)))).to.equal(true)
  })

  it('fails when any field is changed', async () => {
    const other = await generateKeyPair('Ed25519')
    const flip = (s: string): string => (s[10] === 'A' ? 'B' : 'A') + s.slice(1, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11)
    const tampered: Array<[string, Release]> = [
      ['name', { ...release, name: 'csv-cleaner' }],
      ['version', { ...release, version: '1.2.4' }],
      ['cid', { ...release, cid: 'bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' }],
      ['size', { ...release, size: 4467 }],
      ['author', { ...release, author: publicKeyText(other.publicKey.raw) }],
      ['author (not a key)', { ...release, author: 'z6Mknotakey' }],
      ['publishedAt', { ...release, publishedAt: release.publishedAt + 1 }],
      ['manifestDigest', { ...release, manifestDigest: manifestDigest({ ...manifest, description: 'e' }) }],
      ['signature (one char)', { ...release, signature: flip(release.signature) }],
      ['signature (short)', { ...release, signature: release.signature.slice(0, 80) }],
      ['signature (garbage)', { ...release, signature: '!!!' }]
    ]
    for (const [field, r] of tampered) expect(await verifyRelease(r), field).to.equal(false)

    // the same fields signed by another key under the first key's name
    const forged = await signRelease(other, { ...release })
    expect(await verifyRelease({ ...forged, author: release.author })).to.equal(false)
  })

  it('refuses a signature the same key made over the same fields for another purpose (envelope domain, no domain)', async () => {
    const { name, version, cid, size, author, publishedAt, manifestDigest: md } = release
    const fields = { name, version, cid, size, author, publishedAt, manifestDigest: md }
    for (const bytes of [domainSeparated(ENVELOPE_DOMAIN, fields), encodeCanonical(fields), domainSeparated(RELEASE_DOMAIN + 'x', fields)]) {
      const sig = await key.sign(bytes)
      expect(await verifyRelease({ ...release, signature: Buffer.from(sig).toString('base64url') })).to.equal(false)
    }
  })

  it('fails for every single-bit change of the signature', async () => {
    const sig = Buffer.from(release.signature, 'base64url')
    for (let bit = 0; bit < sig.length * 8; bit += 7) {
      const s = Buffer.from(sig)
      s[bit >> 3] ^= 1 << (bit & 7)
      expect(await verifyRelease({ ...release, signature: s.toString('base64url') }), `bit ${bit}`).to.equal(false)
    }
  })

  it('manifestDigest is canonical: key order does not matter, content does', () => {
    const reordered = { tags: ['a', 'b'], entrypoint: 'main.py', runtime: 'python3', description: 'd', version: '1.2.3', name: 'csv-clean' }
    expect(manifestDigest(reordered)).to.equal(manifestDigest(manifest))
    expect(manifestDigest({ ...manifest, tags: ['b', 'a'] })).to.not.equal(manifestDigest(manifest))
    expect(manifestDigest(manifest)).to.match(/^[0-9a-f]{64}$/)
  })

  it('refuses to sign with a key that is not ed25519', async () => {
    const secp = await generateKeyPair('secp256k1')
    const err = await refusal(signRelease(secp, { name: 'a-b', version: '1.0.0', cid: release.cid, size: 1, publishedAt: 0, manifestDigest: release.manifestDigest }))
    expect(err).to.be.instanceOf(TypeError)
  })
})
