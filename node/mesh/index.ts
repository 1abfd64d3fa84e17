/** node/mesh: staying connected: bootstrap re-dials, hello announcements, peer discovery. */
export * from './keeper.js'
