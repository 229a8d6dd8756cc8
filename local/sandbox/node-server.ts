/**
 * A fetch-style HTTP server on node:http. The sandbox uses node:http rather than Deno.serve for
 * one reason: a simulated timeout must end with the connection dropped and no answer at all,
 * and only node:http lets a handler destroy the socket (Deno.serve always answers something).
 * @module
 */
import { Buffer } from "node:buffer";
import http from "node:http";

/** When each request's head reached the server (see {@link receivedAt}). */
const arrivals = new WeakMap<Request, Date>();

/**
 * When the request's head reached the server: what Twilio's edge would see as its arrival. The
 * handler runs after the body is read and the request rebuilt, some event-loop turns later (on
 * this 2-core machine up to tens of ms under load), which is the sandbox's delay, not the client's.
 */
export function receivedAt(request: Request): Date {
  return arrivals.get(request) ?? new Date();
}

/** Returned by a handler to close the connection without answering. */
export const DROP: unique symbol = Symbol("drop connection");

/**
 * Handles one request. `signal` aborts when the client goes away or the server closes, so long
 * waits (latency, held requests) end promptly.
 */
export type FetchHandler = (
  request: Request,
  signal: AbortSignal,
) => Promise<Response | typeof DROP>;

/** A listening server. */
export interface NodeServer {
  port: number;
  /** Cancels in-flight requests, closes every connection and stops listening. */
  close(): Promise<void>;
}

/** Options of {@link listen}. */
export interface ListenOptions {
  hostname: string;
  port: number;
  handler: FetchHandler;
  /** Answers requests whose handler threw; must not throw itself. */
  onError: (error: unknown) => Response;
  /** Largest request body accepted; larger ones are refused with `reject("too-large")`. */
  maxBodyBytes: number;
  /** Answers requests refused before reaching the handler. */
  reject: (reason: "too-large" | "bad-target") => Response;
}

/** Starts listening; resolves once the port is bound. */
export async function listen(options: ListenOptions): Promise<NodeServer> {
  const shutdown = new AbortController();
  const inFlight = new Set<Promise<void>>();

  let origin = `http://${options.hostname}:${options.port}`;
  const server = http.createServer((req, res) => {
    const arrived = new Date();
    const work = serve(req, res, options, origin, shutdown.signal, arrived).catch(() => {
      // The socket is already broken if writing failed; nothing is left to answer.
      req.socket.destroy();
    });
    const tracked = work.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  });
  // A client that sends garbage must not take the server down.
  server.on("clientError", (_error, socket) => socket.destroy());
  // An idle connection is kept a minute, as a load balancer in front of an API keeps it (AWS's
  // default idle timeout is 60 s), not node:http's 5 s: a client that reused its connection just
  // as the server closed it lost the request (send-sms deferred a test's send, outcome unknown,
  // after the 5 s between two tests).
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  // Handlers see a stable origin rather than the client's Host header, which could be anything.
  origin = `http://${
    options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname
  }:${port}`;

  return {
    port,
    async close() {
      shutdown.abort();
      // Cut connections before waiting: a client stalled mid-body would otherwise hold close().
      server.closeAllConnections();
      await Promise.all([...inFlight]);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function serve(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: ListenOptions,
  origin: string,
  shutdown: AbortSignal,
  arrived: Date,
): Promise<void> {
  const gone = new AbortController();
  res.on("close", () => {
    if (!res.writableEnded) gone.abort();
  });
  const signal = AbortSignal.any([gone.signal, shutdown]);

  const body = await readBody(req, options.maxBodyBytes);
  const target = req.url ?? "";
  let response: Response | typeof DROP;
  if (body === "too-large") {
    response = options.reject("too-large");
  } else if (!target.startsWith("/") || target.startsWith("//")) {
    response = options.reject("bad-target");
  } else {
    const method = req.method ?? "GET";
    try {
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
      }
      const request = new Request(origin + target, {
        method,
        headers,
        body: method === "GET" || method === "HEAD" ? undefined : body,
      });
      arrivals.set(request, arrived);
      response = await options.handler(request, signal);
    } catch (error) {
      response = options.onError(error);
    }
  }

  if (response === DROP) {
    req.socket.destroy();
    return;
  }
  const payload = Buffer.from(await response.arrayBuffer());
  const outHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => (outHeaders[name] = value));
  outHeaders["content-length"] = String(payload.length);
  // An unread remainder of a refused body would be parsed as the next request; close instead.
  if (body === "too-large") outHeaders["connection"] = "close";
  res.writeHead(response.status, outHeaders);
  res.end(req.method === "HEAD" ? undefined : payload);
}

/** Reads the whole body, or reports it as too large without buffering the rest. */
async function readBody(
  req: http.IncomingMessage,
  limit: number,
): Promise<Uint8Array<ArrayBuffer> | "too-large"> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk as Buffer;
    size += buf.length;
    if (size > limit) return "too-large";
    chunks.push(buf);
  }
  return new Uint8Array(Buffer.concat(chunks));
}
