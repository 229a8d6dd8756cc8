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

/** The first port of the kernel's range for outgoing connections and port-0 binds. */
function ephemeralLow(): number {
  try {
    const low = Number(
      Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(/\s+/)[0],
    );
    if (low > 0) return low;
  } catch {
    // not Linux: the kernel's default below
  }
  return 32_768;
}

const handedOut = new Set<number>();

/**
 * `preferred` when free, otherwise a free port below the kernel's ephemeral range, never one
 * handed out before by this process. A port the OS picks (port 0) comes from the range it also
 * gives outgoing connections, and a server binds it only later: a stack's gateway once found
 * its port taken by then (AddrInUse), most likely by a connection made while Postgres started.
 */
export function freePort(preferred?: number): number {
  if (preferred && portFree(preferred)) return preferred;
  const low = ephemeralLow();
  for (let attempt = 0; low > 11_000 && attempt < 1_000; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (handedOut.has(port) || !portFree(port)) continue;
    handedOut.add(port);
    return port;
  }
  // No room below the range: the OS's pick.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** What listens on each of the stack's ports, for messages a newcomer can act on. */
export const PORT_SERVICES = {
  api: "API gateway",
  db: "Postgres",
  demo: "demo page",
  sandbox: "Twilio sandbox",
} as const;

/**
 * Raised before anything is started when a fixed port is taken: the message names each busy
 * port and its service and says what to do, instead of the first server's raw bind error.
 */
export class PortsBusyError extends Error {
  constructor(readonly busy: { service: string; port: number }[]) {
    const list = busy.map((b) => `${b.port} (${b.service})`).join(", ");
    super(
      `port${busy.length === 1 ? "" : "s"} ${list} ${busy.length === 1 ? "is" : "are"} ` +
        "already in use, probably by another local stack (`npm start` or `supabase start`).\n" +
        "Stop the other stack, or run `npm start -- --auto-ports` to use free ports instead.",
    );
    this.name = "PortsBusyError";
  }
}

/** Throws PortsBusyError naming every port of `ports` (0 = any) that something listens on. */
export function assertPortsFree(ports: Partial<Record<keyof typeof PORT_SERVICES, number>>): void {
  const busy = (Object.keys(PORT_SERVICES) as (keyof typeof PORT_SERVICES)[])
    .filter((name) => ports[name] && !portFree(ports[name]!))
    .map((name) => ({ service: PORT_SERVICES[name], port: ports[name]! }));
  if (busy.length) throw new PortsBusyError(busy);
}
