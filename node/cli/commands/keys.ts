import type { Command } from 'commander'
import { emit } from '../output.js'

/** `aas keys`: skill authors' ed25519 keys. */
export function registerKeys (program: Command): void {
  const keys = program.command('keys').description("skill authors' signing keys")

  keys.command('new')
    .description('make a new ed25519 author key (file mode 0600; never overwrites)')
    .requiredOption('--out <file>', 'where to write the key')
    .option('--json', 'print {"publicKey", "file"} as JSON')
    .action(async (opts) => {
      const { createAuthorKey } = await import('../../../skills/keys.js')
      const key = await createAuthorKey(opts.out)
      emit(opts.json === true, { publicKey: key.publicKey, file: opts.out }, () => `${key.publicKey}\n(author key written to ${opts.out}; keep it secret, give nodes the public key above with --trust-author)`)
    })

  keys.command('show <file>')
    .description("print an author key's public key (the form used in config, trust lists and releases)")
    .option('--json', 'print {"publicKey"} as JSON')
    .action(async (file: string, opts) => {
      const { loadAuthorKey } = await import('../../../skills/keys.js')
      const key = await loadAuthorKey(file)
      emit(opts.json === true, { publicKey: key.publicKey }, () => key.publicKey)
    })
}
