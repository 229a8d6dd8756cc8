/**
 * fast-check arbitraries for hostile HTTP requests: methods, content types, odd headers, random
 * JSON and form bodies, random bytes and invalid UTF-8, empty, deeply nested and huge bodies
 * (buffered with a Content-Length, or streamed chunked).
 */
import fc from "fast-check";

/** One request body. */
export type FuzzBody =
  | { kind: "none" }
  | { kind: "text"; label: string; text: string }
  | { kind: "bytes"; label: string; bytes: Uint8Array }
  | { kind: "huge"; label: string; size: number; streamed: boolean };

/** One request, before it is sent. */
export interface FuzzRequest {
  method: string;
  contentType: string | null;
  headers: [string, string][];
  body: FuzzBody;
  /** Query string appended to the URL (with its `?`), or "". */
  query: string;
}

const encoder = new TextEncoder();

/** Methods: mostly POST, then the rest of HTTP's, lower-case and made-up ones. */
export const methodArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constant("POST") },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "GET",
      "PUT",
      "PATCH",
      "DELETE",
      "HEAD",
      "OPTIONS",
      "post",
      "patch",
      "FOO",
      "M-SEARCH",
      "PROPFIND",
    ),
  },
);

const printable = (maxLength: number) => fc.string({ unit: "grapheme-ascii", maxLength });

/** Content types: the expected ones, their variants, wrong ones and random text. */
export const contentTypeArb: fc.Arbitrary<string | null> = fc.oneof(
  fc.constantFrom(
    null,
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    " application/json ; charset=latin1",
    "application/jsonx",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=UTF-8",
    "Application/X-WWW-Form-Urlencoded",
    "multipart/form-data; boundary=----x",
    "text/plain",
    "text/xml",
    "application/octet-stream",
    ";;;",
    "",
  ),
  printable(60),
);

// Names fetch refuses or that would change the framing, and names a target fixes itself.
const RESERVED = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "content-type",
]);

const headerNameArb = fc.oneof(
  fc.constantFrom(
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-twilio-signature",
    "i-twilio-idempotency-token",
    "x-client-info",
    "apikey",
    "accept",
    "accept-encoding",
    "x-request-id",
    "prefer",
    "origin",
    "cookie",
    "x-cron-secret",
    "content-encoding",
    "range",
  ),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,24}$/),
);

const headerValueArb = fc.oneof(
  { weight: 6, arbitrary: printable(120).map((s) => s.trim()) },
  { weight: 1, arbitrary: fc.constantFrom("gzip", "br", "deflate", "bytes=0-1", "*/*") },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 6000 }).map((n) => "v".repeat(n)) },
);

/** Extra headers (never one of `exclude`, nor one that changes the request's framing). */
export function headersArb(exclude: string[] = []): fc.Arbitrary<[string, string][]> {
  const skip = new Set([...RESERVED, ...exclude.map((h) => h.toLowerCase())]);
  return fc.array(fc.tuple(headerNameArb, headerValueArb), { maxLength: 4 })
    .map((hs) => hs.filter(([k]) => !skip.has(k)));
}

/** Keys that break naive object handling, Twilio's own parameter names, and random ones. */
export const formKeyArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "MessageSid",
    "SmsSid",
    "MessageStatus",
    "SmsStatus",
    "AccountSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "ErrorCode",
    "OptOutType",
    "MessagingServiceSid",
    "constructor",
    "__proto__",
    "toString",
    "hasOwnProperty",
    "valueOf",
    "",
  ),
  fc.string({ maxLength: 12 }),
);

/** Values: Twilio-looking ones, keywords, numbers and random text (any Unicode). */
export const formValueArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "SM" + "0".repeat(32),
    "AC" + "f".repeat(32),
    "queued",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "received",
    "read",
    "STOP",
    "START",
    "HELP",
    "+15005550006",
    "+1212555",
    "30003",
    "-1",
    "1e309",
    "NaN",
    "",
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
);

/** A form body: random pairs, repeated keys included. */
export const formTextArb: fc.Arbitrary<string> = fc.array(fc.tuple(formKeyArb, formValueArb), {
  maxLength: 10,
}).map((pairs) => new URLSearchParams(pairs).toString());

/** Byte sequences that are not UTF-8: stray continuation, truncated, overlong, surrogate, > U+10FFFF. */
const INVALID_UTF8: number[][] = [
  [0xff],
  [0x80],
  [0xc3, 0x28],
  [0xe2, 0x82],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];

/** Valid text with an invalid UTF-8 sequence spliced in somewhere. */
export function invalidUtf8Arb(textArb: fc.Arbitrary<string>): fc.Arbitrary<FuzzBody> {
  return fc.tuple(textArb, fc.constantFrom(...INVALID_UTF8), fc.nat()).map(([text, bad, at]) => {
    const good = encoder.encode(text);
    const cut = good.length === 0 ? 0 : at % (good.length + 1);
    const bytes = new Uint8Array([...good.slice(0, cut), ...bad, ...good.slice(cut)]);
    return { kind: "bytes", label: "invalid-utf8", bytes };
  });
}

/** Deeply nested JSON. */
const nestedArb: fc.Arbitrary<FuzzBody> = fc.tuple(
  fc.integer({ min: 1_000, max: 12_000 }),
  fc.boolean(),
).map(([depth, objects]) => ({
  kind: "text",
  label: "nested",
  text: objects
    ? '{"a":'.repeat(depth) + "1" + "}".repeat(depth)
    : "[".repeat(depth) + "]".repeat(depth),
}));

/** Bodies over a limit: just over it, 1 MiB, 8 MiB; with a Content-Length or streamed. */
export function hugeArb(limit: number): fc.Arbitrary<FuzzBody> {
  return fc.tuple(fc.constantFrom(limit + 1, 1 << 20, 8 << 20), fc.boolean()).map((
    [size, streamed],
  ) => ({ kind: "huge", label: streamed ? "huge-streamed" : "huge", size, streamed }));
}

/** Every kind of body, plus `special` (an endpoint's own near-valid inputs). */
export function bodyArb(
  limit: number,
  special: fc.Arbitrary<FuzzBody>[] = [],
): fc.Arbitrary<FuzzBody> {
  const text = (label: string, arb: fc.Arbitrary<string>) =>
    arb.map((t): FuzzBody => ({ kind: "text", label, text: t }));
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<FuzzBody>({ kind: "none" }) },
    { weight: 1, arbitrary: fc.constant<FuzzBody>({ kind: "text", label: "empty", text: "" }) },
    { weight: 4, arbitrary: text("json", fc.jsonValue().map((v) => JSON.stringify(v))) },
    { weight: 3, arbitrary: text("form", formTextArb) },
    { weight: 2, arbitrary: text("unicode", fc.string({ unit: "binary", maxLength: 300 })) },
    {
      weight: 2,
      arbitrary: fc.uint8Array({ maxLength: 2000 }).map((bytes): FuzzBody => ({
        kind: "bytes",
        label: "bytes",
        bytes,
      })),
    },
    {
      weight: 2,
      arbitrary: invalidUtf8Arb(fc.jsonValue().map((v) => JSON.stringify(v))),
    },
    { weight: 1, arbitrary: nestedArb },
    { weight: 1, arbitrary: hugeArb(limit) },
    ...special.map((arbitrary) => ({ weight: 4, arbitrary })),
  );
}

/** A random request: method, content type, extra headers, body and query. */
export function requestArb(options: {
  limit: number;
  special?: fc.Arbitrary<FuzzBody>[];
  excludeHeaders?: string[];
  query?: fc.Arbitrary<string>;
}): fc.Arbitrary<FuzzRequest> {
  return fc.record({
    method: methodArb,
    contentType: contentTypeArb,
    headers: headersArb(options.excludeHeaders),
    body: bodyArb(options.limit, options.special),
    query: options.query ?? fc.constant(""),
  }).map(described);
}

/** The request, printed by fast-check (in a counterexample) as {@link describe} does. */
export function described<T extends FuzzRequest>(req: T): T {
  Object.defineProperty(req, fc.toStringMethod, {
    value: () => describe(req),
    configurable: true,
  });
  return req;
}

/** Random query strings (Twilio signs the URL with its query). */
export const queryArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  {
    weight: 1,
    arbitrary: fc.array(fc.tuple(formKeyArb, formValueArb), { minLength: 1, maxLength: 3 })
      .map((pairs) => `?${new URLSearchParams(pairs)}`),
  },
);

/** The bytes of a body (huge bodies are built on demand). */
export function bodyBytes(body: FuzzBody): Uint8Array | null {
  switch (body.kind) {
    case "none":
      return null;
    case "text":
      return encoder.encode(body.text);
    case "bytes":
      return body.bytes;
    case "huge":
      return new Uint8Array(body.size).fill(0x61);
  }
}

/** What `fetch` sends for a body: bytes, a chunked stream, or nothing (GET/HEAD never carry one). */
export function fetchBody(method: string, body: FuzzBody): BodyInit | null {
  if (["GET", "HEAD"].includes(method.toUpperCase())) return null;
  if (body.kind === "huge" && body.streamed) {
    let left = body.size;
    const chunk = new Uint8Array(64 * 1024).fill(0x62);
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (left <= 0) return controller.close();
        const n = Math.min(left, chunk.length);
        left -= n;
        controller.enqueue(chunk.slice(0, n));
      },
    });
  }
  const bytes = bodyBytes(body);
  return bytes ? new Uint8Array(bytes) : null;
}

/** A one-line description of a request (for failure messages). */
export function describe(req: FuzzRequest): string {
  const b = req.body;
  const body = b.kind === "none"
    ? "no body"
    : b.kind === "huge"
    ? `${b.label} ${b.size} bytes`
    : b.kind === "text"
    ? `${b.label} ${JSON.stringify(b.text.slice(0, 120))}${b.text.length > 120 ? "…" : ""}`
    : `${b.label} ${b.bytes.length} bytes`;
  return `${req.method} ${req.query} [${req.contentType}] {${
    req.headers.map(([k, v]) => `${k}: ${v.slice(0, 30)}`).join("; ")
  }} ${body}`;
}
