import { read } from 'read'
import { UsageError } from '../../protocol/errors.js'

/**
 * Secrets a person types: asked on the terminal without echo (npm's `read`, the prompt on
 * stderr so stdout stays the command's answer), or read as lines from stdin for scripts
 * (`--password-stdin`), never from a flag, where they would sit in the shell history and `ps`.
 */
export async function askHidden (prompt: string): Promise<string> {
  if (process.stdin.isTTY !== true) throw new UsageError('no terminal to ask on: pipe the password in with --password-stdin')
  return await read({ prompt, silent: true, replace: '', output: process.stderr })
}

export async function ask (prompt: string): Promise<string> {
  if (process.stdin.isTTY !== true) throw new UsageError('no terminal to ask on: give it as an option')
  return (await read({ prompt, output: process.stderr })).trim()
}

/** Every line of stdin (to its end), without their line ends. */
export async function stdinLines (): Promise<string[]> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)
}

/** A new password: typed twice on a terminal, or the first line of stdin. */
export async function newPassword (fromStdin: boolean): Promise<string> {
  if (fromStdin) return (await stdinLines())[0] ?? ''
  const first = await askHidden('password: ')
  const again = await askHidden('password again: ')
  if (first !== again) throw new UsageError('the two passwords differ')
  return first
}
