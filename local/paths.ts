/** Small path helpers (no std library here: JSR is out of reach). */

/** Absolute file path → `file://` URL string, percent-encoding what needs it. */
export function toFileUrl(path: string): string {
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  return new URL(`file://${abs.split("/").map(encodeURIComponent).join("/")}`).href;
}

/** Joins path segments with single slashes. */
export function join(...parts: string[]): string {
  return parts.join("/").replace(/\/+/g, "/");
}

/** The project root (the folder above local/). */
export const PROJECT_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
