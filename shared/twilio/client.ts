/**
 * The Twilio client, the one route to Twilio: {@link twilioClientFromEnv} gives a function's
 * client from its environment, or `null` when credentials or a sender are missing (SMS disabled,
 * {@link isSmsEnabled} false, the app keeps working). A function builds it once in its `index.ts`
 * and hands it to its handler; tests call {@link createTwilioClient} with a config and a `fetch`.
 *
 * Sending posts the one documented form request, and listing messages (`messages.ts`) reads
 * Twilio's JSON pages, both without twilio's library: importing it cost a cold start 200-300 ms,
 * and even a lazy dynamic import of it put its package in the function's module graph, about
 * 40 ms of each cold start on the edge runtime's Deno (docs/decisions.md).
 *
 * Requests go through a small HTTP client on `fetch`, shaped as twilio's `httpClient` (the
 * library's documented extension point, so tests and tools can hand it to twilio-node): it points
 * at `TWILIO_API_BASE_URL` (the local sandbox) when set and applies a timeout.
 *
 * @module
 */

import type { Env } from "../runtime/function.ts";
import type { SmsEncoding } from "../text/segments.ts";
import { SmsError } from "../contract/errors.ts";
import { isE164 } from "../compliance/e164.ts";
import { analyzeSegments } from "../text/segments.ts";
import {
  classifyTwilioError,
  type TwilioErrorClassification,
  type TwilioFailure,
} from "./errors.ts";
import { MESSAGE_STATUSES, type MessageStatus } from "../contract/statuses.ts";

/** Parameters of one outbound message as handed to the Twilio client. */
export interface SendSmsParams {
  /** Recipient in E.164. */
  to: string;
  /** Message text, already validated. */
  body: string;
  /** Overrides the configured status callback URL for this message. */
  statusCallback?: string;
  /** Seconds Twilio may keep the message queued (1..36000); past it, the message fails. */
  validityPeriod?: number;
}

/** What Twilio answered when it accepted a message. */
export interface SendSmsResult {
  /** Twilio's message sid ("SM…"). */
  sid: string;
  /** Status at creation, usually "queued" or "accepted". */
  status: MessageStatus;
  /** Segments Twilio counted (falls back to our own count when Twilio omits it). */
  segments: number;
  /** Encoding we computed for the body. */
  encoding: SmsEncoding;
}

/** Twilio settings resolved from the environment. */
export interface TwilioConfig {
  accountSid: string;
  authToken: string;
  /** Sender number (`TWILIO_PHONE_NUMBER`), used when there is no messaging service. */
  from: string | null;
  /** Messaging service (`TWILIO_MESSAGING_SERVICE_SID`), preferred over `from`. */
  messagingServiceSid: string | null;
  /** Replaces `https://api.twilio.com` (`TWILIO_API_BASE_URL`, e.g. the local sandbox). */
  apiBaseUrl: string | null;
  /**
   * Status callback URL for every message (`TWILIO_WEBHOOK_URL`), with Twilio's connection
   * overrides as its fragment (`TWILIO_WEBHOOK_CONNECTION_OVERRIDES`, see
   * {@link withConnectionOverrides}).
   */
  statusCallbackUrl: string | null;
  /** Default `ValidityPeriod` in seconds (`TWILIO_VALIDITY_PERIOD`, default 3600). */
  validityPeriod: number;
  /**
   * `SmartEncoded` on every message (`TWILIO_SMART_ENCODED`): Twilio replaces curly quotes,
   * dashes and the like with GSM-7 characters before it counts segments. Sent explicitly either
   * way, so a Messaging Service's own setting cannot make our counts wrong. Default: on when a
   * Messaging Service sends, off for a bare number.
   */
  smartEncoded: boolean;
}

/** Default seconds a message may wait in Twilio's queue before it fails instead of going late. */
export const DEFAULT_VALIDITY_PERIOD = 3600;

function clean(value: string | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

/**
 * Twilio's webhook connection overrides for our callbacks: without them Twilio retries a callback
 * once, and only when it cannot connect (`rc=1`, `rp=ct`), so a 5xx or a hung answer loses it.
 * Every retry lands on an idempotent handler (one event per MessageSid and status, one inbound
 * row and one answer per MessageSid), so all but 4xx is retried (a 400/403 stays a refusal), as
 * often as Twilio allows (`rc=5`) within its 15 s cap (`tt`). `rt` outlasts the functions' own
 * database connect timeout (10 s), so a stuck webhook answers 5xx itself (retried) rather than
 * being retried while still running (docs/decisions.md, issue 20).
 * Source: https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides
 */
export const DEFAULT_CONNECTION_OVERRIDES = "ct=3000&rt=12000&tt=15000&rc=5&rp=ct,rt,5xx";

// Twilio's documented keys and ranges; an invalid value makes Twilio fail the callback itself
// (errors 11237-11243), so one that is not valid here is never sent.
const OVERRIDE_RULES: Readonly<Record<string, (v: string) => boolean>> = {
  ct: (v) => /^\d+$/.test(v) && +v >= 100 && +v <= 10_000,
  rt: (v) => /^\d+$/.test(v) && +v >= 100 && +v <= 15_000,
  tt: (v) => /^\d+$/.test(v) && +v >= 100 && +v <= 15_000,
  rc: (v) => /^[0-5]$/.test(v),
  rp: (v) => v.split(",").every((p) => ["4xx", "5xx", "ct", "rt", "all"].includes(p)),
  sni: (v) => v === "y" || v === "n",
  e: (v) => /^[a-z]+(-[a-z]+)*(,[a-z]+(-[a-z]+)*)*$/.test(v),
};

/**
 * `TWILIO_WEBHOOK_CONNECTION_OVERRIDES` as a URL fragment without `#`: the default when unset
 * or invalid, `null` for `off`.
 */
export function connectionOverridesFromEnv(value: string | undefined): string | null {
  const v = clean(value)?.replace(/^#/, "");
  if (v === undefined || v === null) return DEFAULT_CONNECTION_OVERRIDES;
  if (/^(off|none|false|0)$/i.test(v)) return null;
  const pairs = v.split("&").map((pair) => pair.split("="));
  const keys = new Set<string>();
  for (const [key, val, ...rest] of pairs) {
    const rule = OVERRIDE_RULES[key];
    if (!rule || val === undefined || rest.length || keys.has(key) || !rule(val)) {
      return DEFAULT_CONNECTION_OVERRIDES;
    }
    keys.add(key);
  }
  return v;
}

/**
 * `url` with the overrides as its fragment. A URL that already has a fragment is the operator's
 * own choice and is kept as it is. Twilio leaves the fragment out of the signed URL, and so does
 * the webhook's check (`publicWebhookUrl`).
 */
export function withConnectionOverrides(url: string, overrides: string | null): string {
  return overrides === null || url.includes("#") ? url : `${url}#${overrides}`;
}

/**
 * Resolves Twilio settings from environment variables; `null` unless `TWILIO_ACCOUNT_SID`,
 * `TWILIO_AUTH_TOKEN` and a sender (`TWILIO_PHONE_NUMBER` or `TWILIO_MESSAGING_SERVICE_SID`)
 * are all set.
 */
export function loadTwilioConfig(env: Env): TwilioConfig | null {
  const accountSid = clean(env.TWILIO_ACCOUNT_SID);
  const authToken = clean(env.TWILIO_AUTH_TOKEN);
  const from = clean(env.TWILIO_PHONE_NUMBER);
  const messagingServiceSid = clean(env.TWILIO_MESSAGING_SERVICE_SID);
  if (!accountSid || !authToken || (!from && !messagingServiceSid)) return null;
  const validity = Number(clean(env.TWILIO_VALIDITY_PERIOD) ?? DEFAULT_VALIDITY_PERIOD);
  const callback = clean(env.TWILIO_WEBHOOK_URL);
  const smart = clean(env.TWILIO_SMART_ENCODED)?.toLowerCase();
  return {
    accountSid,
    authToken,
    from,
    messagingServiceSid,
    apiBaseUrl: clean(env.TWILIO_API_BASE_URL)?.replace(/\/+$/, "") ?? null,
    statusCallbackUrl: callback === null ? null : withConnectionOverrides(
      callback,
      connectionOverridesFromEnv(env.TWILIO_WEBHOOK_CONNECTION_OVERRIDES),
    ),
    validityPeriod: Number.isInteger(validity) && validity >= 1 && validity <= 36000
      ? validity
      : DEFAULT_VALIDITY_PERIOD,
    smartEncoded: smart === "true" || smart === "1" ||
      (smart !== "false" && smart !== "0" && messagingServiceSid !== null),
  };
}

/** A send that Twilio (or the network) refused, with its classification. */
export class TwilioSendError extends SmsError {
  /** What to do about it (retry, mark the number, alert the business…). */
  readonly classification: TwilioErrorClassification;
  /** Twilio's `more_info` link, when it gave one. */
  readonly moreInfo: string | null;

  /** Wraps a classified failure. */
  constructor(
    classification: TwilioErrorClassification,
    message: string,
    options: { cause?: unknown; moreInfo?: string | null } = {},
  ) {
    super(classification.errorCode, message, { cause: options.cause });
    this.name = "TwilioSendError";
    this.classification = classification;
    this.moreInfo = options.moreInfo ?? null;
  }
}

/** No HTTP answer from Twilio: the network failed or the request timed out. */
export class TwilioTransportError extends Error {
  /** True when the request timed out (it may have reached Twilio). */
  readonly timeout: boolean;

  /** Wraps what fetch threw. */
  constructor(cause: unknown) {
    const name = (cause as { name?: unknown })?.name;
    const timeout = name === "TimeoutError" || name === "AbortError";
    super(timeout ? "Twilio request timed out" : "Twilio request failed", { cause });
    this.name = "TwilioTransportError";
    this.timeout = timeout;
  }
}

/** The subset of twilio's request options the fetch client uses. */
export interface TwilioRequestOptions {
  method: string;
  uri: string;
  username?: string;
  password?: string;
  headers?: Record<string, string>;
  params?: Record<string, unknown>;
  data?: Record<string, unknown>;
  timeout?: number;
}

/** What twilio expects back from an http client. */
export interface TwilioHttpResponse {
  statusCode: number;
  body: string;
  headers: Record<string, string>;
}

/** Options of {@link createFetchHttpClient}. */
export interface FetchHttpClientOptions {
  /** Replaces the origin of every Twilio API URL (keeps path and query). */
  baseUrl?: string | null;
  /** The fetch to use (tests inject one). Default: global fetch. */
  fetch?: typeof fetch;
  /** Per-request timeout. Default {@link TWILIO_REQUEST_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** How long one request to Twilio may take before it is abandoned (its outcome then unknown). */
export const TWILIO_REQUEST_TIMEOUT_MS = 15_000;

function appendForm(form: URLSearchParams, data: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) form.append(key, String(v));
  }
}

/**
 * An object usable as twilio's `httpClient` option: sends twilio's requests with `fetch`,
 * rewriting `https://api.twilio.com` to `baseUrl` when given.
 */
export function createFetchHttpClient(options: FetchHttpClientOptions = {}) {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? TWILIO_REQUEST_TIMEOUT_MS;
  return {
    async request(opts: TwilioRequestOptions): Promise<TwilioHttpResponse> {
      const original = new URL(opts.uri);
      let target = original;
      if (options.baseUrl) {
        const base = new URL(options.baseUrl);
        target = new URL(base.origin + base.pathname.replace(/\/$/, "") + original.pathname);
        target.search = original.search;
      }
      if (opts.params) {
        const query = new URLSearchParams(target.search);
        appendForm(query, opts.params);
        target.search = query.toString();
      }
      const headers = new Headers(opts.headers ?? {});
      headers.delete("Connection");
      if (opts.username && opts.password) {
        headers.set("Authorization", "Basic " + btoa(`${opts.username}:${opts.password}`));
      }
      let body: string | undefined;
      if (opts.data && opts.method.toLowerCase() !== "get") {
        const form = new URLSearchParams();
        appendForm(form, opts.data);
        body = form.toString();
        headers.set("Content-Type", "application/x-www-form-urlencoded");
      }
      let response: Response;
      let text: string;
      try {
        response = await doFetch(target, {
          method: opts.method.toUpperCase(),
          headers,
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(opts.timeout ?? timeoutMs),
        });
        text = await response.text();
      } catch (error) {
        throw new TwilioTransportError(error);
      }
      const responseHeaders: Record<string, string> = {};
      response.headers.forEach((value, key) => (responseHeaders[key] = value));
      return { statusCode: response.status, body: text, headers: responseHeaders };
    },
  };
}

/** Options of {@link createTwilioClient}. */
export interface TwilioClientOptions {
  /** fetch used for Twilio's API (tests inject one). */
  fetch?: typeof fetch;
  /** Per-request timeout in ms. Default {@link TWILIO_REQUEST_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** Sends messages with one Twilio configuration. */
export interface TwilioClient {
  readonly config: TwilioConfig;
  /**
   * One request to Twilio's REST API (`https://api.twilio.com/…`, or the configured base URL),
   * authenticated with the account's credentials: what `messages.ts` lists messages with.
   */
  request(options: TwilioRequestOptions): Promise<TwilioHttpResponse>;
  /**
   * Creates a message with `StatusCallback` and `ValidityPeriod` set. Resolves to Twilio's sid,
   * status and segment count; rejects with a {@link TwilioSendError} carrying the classification.
   */
  sendMessage(params: SendSmsParams): Promise<SendSmsResult>;
}

function asMessageStatus(status: string): MessageStatus {
  return (MESSAGE_STATUSES as readonly string[]).includes(status)
    ? status as MessageStatus
    : "queued";
}

// twilio's RestException carries the HTTP status, Twilio's code and a more_info link.
function describeFailure(
  error: unknown,
): { failure: TwilioFailure; moreInfo: string | null } | null {
  if (error instanceof TwilioTransportError) {
    return { failure: error.timeout ? { timeout: true } : { network: true }, moreInfo: null };
  }
  const e = error as { status?: unknown; code?: unknown; moreInfo?: unknown };
  if (typeof e?.status === "number") {
    return {
      failure: { code: typeof e.code === "number" ? e.code : null, httpStatus: e.status },
      moreInfo: typeof e.moreInfo === "string" ? e.moreInfo : null,
    };
  }
  return null;
}

/** Builds a client for a config. */
export function createTwilioClient(
  config: TwilioConfig,
  options: TwilioClientOptions = {},
): TwilioClient {
  const http = createFetchHttpClient({
    baseUrl: config.apiBaseUrl,
    fetch: options.fetch,
    timeoutMs: options.timeoutMs,
  });
  const request = (opts: TwilioRequestOptions) =>
    http.request({ ...opts, username: config.accountSid, password: config.authToken });

  // The one request a send needs, made as twilio-node makes it (same HTTP client, same form),
  // without loading twilio-node: its import costs 200-300 ms of cold start and ~13 MiB.
  async function createMessage(data: Record<string, unknown>) {
    const res = await http.request({
      method: "post",
      uri: `https://api.twilio.com/2010-04-01/Accounts/${config.accountSid}/Messages.json`,
      username: config.accountSid,
      password: config.authToken,
      headers: { Accept: "application/json" },
      data,
    });
    let json: Record<string, unknown> | null = null;
    try {
      json = JSON.parse(res.body);
    } catch {
      // not JSON (a proxy's error page): the status code says enough
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      // The shape of twilio-node's RestException, so both paths classify alike.
      throw {
        status: res.statusCode,
        code: typeof json?.code === "number" ? json.code : null,
        moreInfo: typeof json?.more_info === "string" ? json.more_info : null,
        message: typeof json?.message === "string" ? json.message : `HTTP ${res.statusCode}`,
      };
    }
    return json ?? {};
  }

  async function sendMessage(params: SendSmsParams): Promise<SendSmsResult> {
    if (!isE164(params.to)) {
      throw new SmsError("invalid_phone", "recipient is not an E.164 phone number");
    }
    const analysis = analyzeSegments(params.body, { smartEncoding: config.smartEncoded });
    const statusCallback = params.statusCallback ?? config.statusCallbackUrl ?? undefined;
    const validityPeriod = Math.max(
      1,
      Math.min(36000, Math.floor(params.validityPeriod ?? config.validityPeriod)),
    );
    try {
      const message = await createMessage({
        To: params.to,
        Body: params.body,
        ...(config.messagingServiceSid
          ? { MessagingServiceSid: config.messagingServiceSid }
          : { From: config.from! }),
        ...(statusCallback ? { StatusCallback: statusCallback } : {}),
        ValidityPeriod: validityPeriod,
        SmartEncoded: config.smartEncoded,
      });
      const segments = Number(message.num_segments);
      return {
        sid: String(message.sid),
        status: asMessageStatus(String(message.status)),
        segments: Number.isInteger(segments) && segments > 0 ? segments : analysis.segments,
        encoding: analysis.encoding,
      };
    } catch (error) {
      const described = describeFailure(error);
      if (!described) throw error;
      const { failure, moreInfo } = described;
      const classification = classifyTwilioError(failure);
      const detail = (error as { message?: unknown })?.message;
      throw new TwilioSendError(
        classification,
        `Twilio refused the message: ${classification.description}` +
          (typeof detail === "string" && detail ? ` (${detail})` : ""),
        { cause: error, moreInfo },
      );
    }
  }

  return { config, request, sendMessage };
}

/** The client for `env`, or `null` when Twilio is not configured there (SMS disabled). */
export function twilioClientFromEnv(env: Env): TwilioClient | null {
  const config = loadTwilioConfig(env);
  return config ? createTwilioClient(config) : null;
}

/** Whether SMS is configured in `env` (default: the process's environment). */
export function isSmsEnabled(env: Env = processEnv()): boolean {
  return loadTwilioConfig(env) !== null;
}

function processEnv(): Env {
  try {
    return Deno.env.toObject();
  } catch {
    // Without --allow-env there is no configuration, hence no SMS.
    return {};
  }
}
