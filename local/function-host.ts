/**
 * Runs one edge function on a given port, as the edge runtime does.
 *
 * `Deno.serve(handler)` always listens on 8000, so several functions cannot share a machine.
 * The edge runtime intercepts `Deno.serve`; this host does the same: it replaces it with one
 * bound to the port it is given, then imports the function. Modules that only
 * `export default { fetch }` are served too.
 *
 * Usage: deno run <perms> local/function-host.ts <port> <entry.ts> [--port-file=<path>]
 *
 * With port 0 the system picks the port as the function binds it (no other process can take it
 * first) and the host writes it to `--port-file` for the supervisor.
 */
import { toFileUrl } from "./paths.ts";

type Handler = Deno.ServeHandler;
type Options = Deno.ServeTcpOptions & Partial<Deno.ServeInit>;

const port = Number(Deno.args[0]);
const entry = Deno.args[1];
if (!Number.isInteger(port) || !entry) {
  console.error("usage: function-host.ts <port> <entry.ts>");
  Deno.exit(2);
}

const portFile = Deno.args.find((a) => a.startsWith("--port-file="))?.slice("--port-file=".length);
const realServe = Deno.serve.bind(Deno);
let served = false;

function serveOnPort(a: Handler | Options, b?: Handler): Deno.HttpServer {
  const [options, handler] = typeof a === "function"
    ? [{} as Options, a]
    : [a, (b ?? a.handler) as Handler | undefined];
  if (!handler) throw new TypeError("Deno.serve needs a handler");
  if (served) throw new Error("an edge function serves one handler");
  served = true;
  const { onListen: _ignored, port: _port, hostname: _host, handler: _h, ...serveOptions } =
    options;
  const server = realServe(
    { ...serveOptions, port, hostname: "127.0.0.1", onListen: () => {} },
    async (req, info) => {
      const { request, rest } = drained(req);
      const res = await handler(request, info);
      await rest();
      return res;
    },
  );
  if (portFile) {
    // Whole or not at all: the supervisor polls for the file.
    Deno.writeTextFileSync(`${portFile}.tmp`, String((server.addr as Deno.NetAddr).port));
    Deno.renameSync(`${portFile}.tmp`, portFile);
  }
  return server;
}

/**
 * `req` for the function, and `rest()`, which reads whatever of its body the function left unread
 * (a body over its size limit, or one it never looked at) before the answer goes out: Deno 2.1.4's
 * server resets a connection whose request body is left unread, and the supervisor would lose the
 * function's answer. On the platform the body reaches the isolate inside the runtime, with no
 * connection to reset.
 */
function drained(req: Request): { request: Request; rest: () => Promise<void> } {
  if (!req.body) return { request: req, rest: () => Promise.resolve() };
  const source = req.body.getReader();
  let ended = false;
  const read = async () => {
    const chunk = await source.read();
    if (chunk.done) ended = true;
    return chunk;
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    // The function's cancel must not reach the connection: rest() reads on.
    cancel() {},
  });
  const request = new Request(req, { body, duplex: "half" } as RequestInit);
  const rest = async () => {
    try {
      while (!ended) await read();
    } catch {
      // the client went away
    }
  };
  return { request, rest };
}

// deno-lint-ignore no-explicit-any
(Deno as any).serve = serveOnPort;

const mod = await import(toFileUrl(entry));
if (!served) {
  const fetchHandler = mod?.default?.fetch;
  if (typeof fetchHandler !== "function") {
    console.error(`${entry} neither calls Deno.serve nor exports default { fetch }`);
    Deno.exit(1);
  }
  serveOnPort((req, info) => fetchHandler.call(mod.default, req, info));
}
