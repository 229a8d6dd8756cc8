/**
 * Request and response helpers shared by the Edge Functions: CORS, JSON answers, and bounded
 * body reading that turns every malformed input into a contract error instead of a crash.
 *
 * @module
 */
import { SmsError } from "../contract/errors.ts";

/** CORS headers for browser callers (supabase-js sends authorization, apikey, x-client-info). */
export const CORS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, x-client-info, apikey, content-type",
  "access-control-allow-methods": "POST, OPTIONS",
});

/** A JSON response with CORS headers. */
export function jsonResponse(
  status: number,
  body: unknown,
  options: { headers?: HeadersInit } = {},
): Response {
  const headers = new Headers(options.headers);
  for (const [k, v] of Object.entries(CORS_HEADERS)) headers.set(k, v);
  headers.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(body), { status, headers });
}

/** Options of {@link readBody}. */
export interface ReadBodyOptions {
  /** Largest body accepted, in bytes. */
  maxBytes: number;
}

/**
 * Reads the whole body as UTF-8 text, refusing bodies over `maxBytes` (without reading them all)
 * and invalid UTF-8.
 */
export async function readBody(req: Request, options: ReadBodyOptions): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > options.maxBytes) {
    throw new SmsError("invalid_request", `request body is larger than ${options.maxBytes} bytes`);
  }
  if (!req.body) return "";
  // Each chunk is copied into one buffer as it comes, sized by the declared length when there is
  // one: keeping the chunks until the end and then copying them held a large body twice (the
  // campaigns function's 4 MB id lists).
  let bytes = new Uint8Array(Number.isSafeInteger(declared) && declared > 0 ? declared : 65_536);
  let size = 0;
  const reader = req.body.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      if (size + value.byteLength > options.maxBytes) {
        throw new SmsError(
          "invalid_request",
          `request body is larger than ${options.maxBytes} bytes`,
        );
      }
      if (size + value.byteLength > bytes.length) {
        const grown = new Uint8Array(
          Math.min(options.maxBytes, Math.max(bytes.length * 2, size + value.byteLength)),
        );
        grown.set(bytes.subarray(0, size));
        bytes = grown;
      }
      bytes.set(value, size);
      size += value.byteLength;
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (e instanceof SmsError) throw e;
    throw new SmsError("invalid_request", "request body could not be read");
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, size));
  } catch {
    throw new SmsError("invalid_request", "request body is not valid UTF-8");
  }
}

/** Parses JSON text; anything but valid JSON is an `invalid_request`. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SmsError("invalid_request", "request body is not valid JSON");
  }
}

/** The media type of a request, lower-cased, without parameters. */
export function mediaType(req: Request): string {
  return (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}
