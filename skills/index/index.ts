/**
 * skills/index: the skill releases this node has accepted (admission: trusted author, no
 * rollback, no conflicting content) and search over them. It keeps its entries in an
 * `IndexStore` the node provides, and asks the node's trust policy through `AuthorTrust`.
 */
export * from './errors.js'
export * from './skill-index.js'
export * from './search.js'
