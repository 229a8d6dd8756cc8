/**
 * `X-Twilio-Signature` validation with WebCrypto (HMAC-SHA1), without importing twilio, so the
 * webhook stays light and the code also runs in a browser.
 *
 * It accepts exactly what twilio-node's `validateRequest` / `validateRequestWithBody` accept:
 * the signature is base64(HMAC-SHA1(auth token, url + sorted key/value pairs)), and the URL is
 * tried in the four forms twilio-node tries, because Twilio's own signing is inconsistent about
 * them: without the port, with the scheme's default port, and each of those with the query string
 * re-encoded the legacy way (Node's `querystring`). For JSON bodies Twilio signs the URL only and
 * puts the body's SHA-256 in the `bodySHA256` query parameter.
 *
 * Always validate against the public URL Twilio called (`TWILIO_WEBHOOK_URL`), never `req.url`.
 *
 * @module
 */
import { hex } from "../text/hex.ts";

/** Form parameters as Twilio posted them; repeated keys as arrays. */
export type SignatureParams = Readonly<Record<string, string | readonly string[]>>;

/** A request to validate. */
export interface SignedRequest {
  /** Value of the `X-Twilio-Signature` header (missing → invalid). */
  signature: string | null | undefined;
  /** The full public URL Twilio requested, query string included. */
  url: string;
}

const encoder = new TextEncoder();

function base64(bytes: ArrayBuffer): string {
  let binary = "";
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Compares two strings (as UTF-8 bytes) in time independent of where they differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Lowercase hex SHA-256 of a UTF-8 string (the `bodySHA256` of a JSON webhook). */
export async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

function signedData(url: string, params: SignatureParams): string {
  let data = url;
  for (const key of Object.keys(params).sort()) {
    const value = params[key];
    if (Array.isArray(value)) {
      for (const v of [...new Set(value as readonly string[])].sort()) data += key + v;
    } else {
      data += key + value;
    }
  }
  return data;
}

async function hmacKey(authToken: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    encoder.encode(authToken),
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
}

async function sign(key: CryptoKey, url: string, params: SignatureParams): Promise<string> {
  return base64(await crypto.subtle.sign("HMAC", key, encoder.encode(signedData(url, params))));
}

/**
 * The signature Twilio sends for a URL and parameter set (what the sandbox and tests sign with).
 * Throws for an empty auth token.
 */
export async function computeTwilioSignature(
  authToken: string,
  request: { url: string; params?: SignatureParams | null },
): Promise<string> {
  return await sign(await hmacKey(authToken), request.url, request.params ?? {});
}

// --- URL variants, as twilio-node builds them -------------------------------------------------

function withStandardPort(parsed: URL): string {
  const port = parsed.protocol === "https:" ? ":443" : ":80";
  let url = parsed.protocol ? parsed.protocol + "//" : "";
  url += parsed.username;
  url += parsed.password ? ":" + parsed.password : "";
  url += parsed.username || parsed.password ? "@" : "";
  url += parsed.host ? parsed.host + port : "";
  url += parsed.pathname + parsed.search + parsed.hash;
  return url;
}

function addPort(parsed: URL): string {
  return parsed.port ? parsed.toString() : withStandardPort(parsed);
}

function removePort(parsed: URL): string {
  const copy = new URL(parsed.toString());
  copy.port = "";
  return copy.toString();
}

const HEX = /^[0-9a-fA-F]$/;

// Node's querystring.unescapeBuffer(s).toString(): decodes the valid %XX escapes, keeps the rest.
function unescapeLoose(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i < s.length - 2 && HEX.test(s[i + 1]) && HEX.test(s[i + 2])) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function qsUnescape(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return unescapeLoose(s);
  }
}

// Node's querystring.parse (default separators, at most 1000 pairs, "+" as space).
function legacyParse(query: string): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = Object.create(null);
  if (query.length === 0) return result;
  let pairs = 0;
  for (const piece of query.split("&")) {
    if (pairs >= 1000) break;
    if (piece.length === 0) continue;
    pairs++;
    const eq = piece.indexOf("=");
    const rawKey = eq === -1 ? piece : piece.slice(0, eq);
    const rawValue = eq === -1 ? "" : piece.slice(eq + 1);
    const key = qsUnescape(rawKey.replaceAll("+", " "));
    const value = qsUnescape(rawValue.replaceAll("+", " "));
    const existing = result[key];
    if (existing === undefined) result[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else result[key] = [existing, value];
  }
  return result;
}

// Node's querystring.stringify for the object legacyParse returns.
function legacyStringify(obj: Record<string, string | string[]>): string {
  const fields: string[] = [];
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    const prefix = encodeURIComponent(key) + "=";
    if (Array.isArray(value)) {
      for (const v of value) fields.push(prefix + encodeURIComponent(v));
    } else {
      fields.push(prefix + encodeURIComponent(value));
    }
  }
  return fields.join("&");
}

function withLegacyQuerystring(url: string): string {
  const parsed = new URL(url);
  if (!parsed.search) return url;
  const query = legacyParse(parsed.search.slice(1));
  parsed.search = "";
  return parsed.toString() + "?" + legacyStringify(query);
}

/** The URL forms twilio-node tries, in its order (duplicates removed). */
export function candidateUrls(url: string): string[] {
  const parsed = new URL(url);
  const withoutPort = removePort(parsed);
  const withPort = addPort(parsed);
  const out: string[] = [withoutPort, withPort];
  for (const form of [withoutPort, withPort]) {
    try {
      out.push(withLegacyQuerystring(form));
    } catch {
      // twilio-node throws here, after the earlier forms failed: nothing more to accept.
      break;
    }
  }
  return [...new Set(out)];
}

/**
 * Validates a form-encoded (or GET) webhook: exactly twilio-node's `validateRequest`.
 * Returns false, never throws, for a malformed URL, a missing header or an empty token.
 */
export async function validateTwilioSignature(
  authToken: string,
  request: SignedRequest & { params?: SignatureParams | null },
): Promise<boolean> {
  if (!authToken) return false;
  let urls: string[];
  try {
    urls = candidateUrls(request.url);
  } catch {
    return false;
  }
  const header = request.signature ?? "";
  const params = request.params ?? {};
  const key = await hmacKey(authToken);
  let valid = false;
  for (const url of urls) {
    // Every candidate is checked, so timing does not reveal which form matched.
    if (timingSafeEqual(header, await sign(key, url, params))) valid = true;
  }
  return valid;
}

/**
 * Validates a JSON-body webhook: the signature covers the URL (with its `bodySHA256` query
 * parameter) and no parameters, and `bodySHA256` must be the SHA-256 of the raw body. Exactly
 * twilio-node's `validateRequestWithBody`.
 */
export async function validateTwilioSignatureWithBody(
  authToken: string,
  request: SignedRequest & { body: string },
): Promise<boolean> {
  let expectedHash: string;
  try {
    expectedHash = new URL(request.url).searchParams.get("bodySHA256") ?? "";
  } catch {
    return false;
  }
  const signatureOk = await validateTwilioSignature(authToken, { ...request, params: {} });
  const bodyOk = timingSafeEqual(expectedHash, await sha256Hex(request.body));
  return signatureOk && bodyOk;
}

/**
 * Validates any Twilio webhook the way twilio-node's `validateIncomingRequest` does: a URL that
 * carries `bodySHA256` is checked with the raw body, any other with the form parameters.
 */
export async function validateTwilioWebhook(
  authToken: string,
  request: SignedRequest & { params?: SignatureParams | null; body?: string | null },
): Promise<boolean> {
  if (request.url.indexOf("bodySHA256") > 0) {
    return await validateTwilioSignatureWithBody(authToken, {
      signature: request.signature,
      url: request.url,
      body: request.body || "{}",
    });
  }
  return await validateTwilioSignature(authToken, request);
}

/** Form body → parameters for validation (repeated keys become arrays, order kept). */
export function formParams(form: string | URLSearchParams): Record<string, string | string[]> {
  const search = typeof form === "string" ? new URLSearchParams(form) : form;
  const grouped = new Map<string, string | string[]>();
  for (const [key, value] of search) {
    const existing = grouped.get(key);
    if (existing === undefined) grouped.set(key, value);
    else if (Array.isArray(existing)) existing.push(value);
    else grouped.set(key, [existing, value]);
  }
  // Own properties only: a parameter named "constructor", "toString" or "__proto__" is a key
  // like any other, not something inherited from Object.prototype.
  return Object.fromEntries(grouped);
}
