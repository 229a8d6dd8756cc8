/// <reference lib="dom" />
/**
 * The few DOM helpers both demo pages' scripts use.
 * @module
 */

/** The element with this id. */
export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** An element with attributes and children (null children are skipped). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string | null)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c !== null) node.append(c);
  return node;
}

/** "1 recipient", "3 recipients". */
export const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
