/**
 * Objects that throw when read (a Proxy, a throwing getter) and one without a prototype: what a
 * parser that must never throw is fed besides random data.
 *
 * @module
 */

const boom = () => {
  throw new Error("boom");
};

/** A throwing Proxy, an object with a throwing enumerable getter, and `Object.create(null)`. */
export function hostileObjects(): unknown[] {
  const throwing = new Proxy({}, { get: boom, has: boom, ownKeys: boom });
  const getter = Object.defineProperty({}, "body", { enumerable: true, get: boom });
  return [throwing, getter, Object.create(null)];
}
