import { pino, type Logger, type LevelWithSilent } from 'pino'

/**
 * Structured logs (JSON lines on stderr, for journald and log shippers). Parts take a child
 * logger: `log.child({ part: 'gossip' })`. Never log secrets; raw peer data only at debug.
 */
export type { Logger }

export function createLogger (level: LevelWithSilent, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { pid: process.pid } }, destination as any)
}
