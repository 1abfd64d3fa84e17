/**
 * Process entry-point shim. Some libp2p 2.x dependencies call `Promise.withResolvers`
 * (ES2024, Node.js 22+); Node.js 20 lacks it. This is the one place it is provided; every
 * entry point (the `aas` binary, scripts, the test runner) imports this file first.
 * On Node.js 22+ the native implementation is kept.
 */
interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }

if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T> (): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve']
      let reject!: Resolvers<T>['reject']
      const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}

export {}
