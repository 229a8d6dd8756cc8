/** Port helpers for the local stack. */

/** True when nothing listens on `port` on the loopback interface. */
export function portFree(port: number): boolean {
  try {
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    l.close();
    return true;
  } catch {
    return false;
  }
}

/** `preferred` when free, otherwise a free port the OS picks. */
export function freePort(preferred?: number): number {
  if (preferred && portFree(preferred)) return preferred;
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
