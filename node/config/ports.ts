/**
 * The node's default ports, apart from the rest of the defaults: the CLI names them in its
 * messages at every start, and the defaults module loads the parts whose options it reads.
 */
export const DEFAULT_P2P_PORT = 7400
export const DEFAULT_API_PORT = 7401
