/** What a command prints: JSON on one line with --json, else the readable form. */
export function emit (json: boolean, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human()}\n`)
}
