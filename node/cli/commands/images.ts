import { Command, Option } from 'commander'
import { emit } from '../output.js'

export function registerImages (program: Command): void {
  const images = program.command('images').description('runtime images that skills run in')
  images.command('build')
    .description('build (or reuse) the runtime images offline from Debian packages; prints each image')
    .addOption(new Option('--runtime <runtime>', 'only this runtime').choices(['python3', 'node', 'sh']))
    .option('--json', 'print {runtime: image} as JSON')
    .action(async (opts) => {
      const { buildRuntimeImage } = await import('../../../skills/images/index.js')
      const runtimes = opts.runtime != null ? [opts.runtime] : ['python3', 'node', 'sh']
      const built: Record<string, string> = {}
      for (const r of runtimes) {
        built[r] = await buildRuntimeImage(r, { progress: (line) => { process.stderr.write(`images: ${line}\n`) } })
      }
      emit(opts.json === true, built, () => Object.values(built).join('\n'))
    })
}
