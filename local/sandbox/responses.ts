/**
 * Response helpers for the sandbox's own (non-Twilio) endpoints.
 * @module
 */

/** A JSON response. */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/** The project's error shape: `{ error: { code, message } }`. */
export function jsonError(status: number, code: string, message: string): Response {
  return json({ error: { code, message } }, status);
}

/** An HTML response. */
export function html(body: string): Response {
  return new Response(body, { headers: { "content-type": "text/html; charset=utf-8" } });
}

/** Reads a JSON body; an empty body reads as `{}`, anything unparsable as `ok: false`. */
export async function readJson(request: Request): Promise<
  { ok: true; value: unknown } | {
    ok: false;
  }
> {
  try {
    const text = await request.text();
    return { ok: true, value: text.trim() === "" ? {} : JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
