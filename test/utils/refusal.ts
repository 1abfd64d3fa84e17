/** The rejection of `p`, or a failure when it resolves: for asserting an error's name and code. */
export async function refusal (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a refusal, got success')
}
