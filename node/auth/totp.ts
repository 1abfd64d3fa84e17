import { HOTP, Secret, TOTP } from 'otpauth'

/**
 * Time-based one-time codes (RFC 6238) through `otpauth`: HMAC-SHA-1, 6 digits, 30 s steps,
 * what every authenticator app reads from an `otpauth://totp/` URI. The code itself is the
 * library's; what is ours is the acceptance rule:
 *
 * - the code of the current step T and of T−1 are accepted. RFC 6238 §5.2 recommends "at most
 *   one time step" of allowed delay, for a code typed just before its step ended;
 * - T+1 is refused: it only helps a device whose clock runs ahead, which is a fault to fix
 *   (NTP), and accepting it would make three codes valid at once instead of two;
 * - T−2 and older are refused;
 * - a step is accepted once per user: the caller keeps the last accepted step (persisted) and
 *   passes it as `lastStep`, so a code seen once — over a shoulder, in a proxy log — is dead,
 *   also after a restart (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt").
 */
export const TOTP_ISSUER = 'AAS'
export const TOTP_DIGITS = 6
export const TOTP_PERIOD_S = 30
export const TOTP_ALGORITHM = 'SHA1'
/** 160 bits: RFC 4226 §4 recommends a shared secret of this length. */
export const TOTP_SECRET_BYTES = 20

/** A fresh secret, base32 (how it is stored and how the URI carries it). */
export function newTotpSecret (): string {
  return new Secret({ size: TOTP_SECRET_BYTES }).base32
}

/** The time step of a moment (ms since the epoch). */
export function totpStep (nowMs: number): number {
  return TOTP.counter({ period: TOTP_PERIOD_S, timestamp: nowMs })
}

/** `otpauth://totp/AAS:<label>?secret=…&issuer=AAS&algorithm=SHA1&digits=6&period=30` */
export function totpUri (secret: string, label: string): string {
  return new TOTP({ issuer: TOTP_ISSUER, label, secret: Secret.fromBase32(secret), algorithm: TOTP_ALGORITHM, digits: TOTP_DIGITS, period: TOTP_PERIOD_S }).toString()
}

/** The code of a step (tests, and `aas` tools that compute a code from a URI). */
export function totpCode (secret: string, step: number): string {
  return HOTP.generate({ secret: Secret.fromBase32(secret), algorithm: TOTP_ALGORITHM, digits: TOTP_DIGITS, counter: step })
}

/**
 * The step `code` belongs to when it is the code of T or T−1 and that step is after
 * `lastStep`; else undefined. Both candidate steps are always computed (the library compares in
 * constant time), so the answer takes as long for a right code as for a wrong one.
 */
export function acceptTotp (secret: string, code: string, nowMs: number, lastStep: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined
  const key = Secret.fromBase32(secret)
  const now = totpStep(nowMs)
  let matched: number | undefined
  for (const step of [now, now - 1]) {
    const delta = HOTP.validate({ token: code, secret: key, algorithm: TOTP_ALGORITHM, digits: TOTP_DIGITS, counter: step, window: 0 })
    if (delta === 0 && matched === undefined) matched = step
  }
  return matched !== undefined && matched > lastStep ? matched : undefined
}
