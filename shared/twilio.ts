/**
 * The Twilio client: twilio's own library, created from the environment and imported lazily
 * (for listing messages when a send must be reconciled), talking HTTP through `fetch`. Sending
 * itself posts the one documented form request through the same HTTP client without loading the
 * library, which would cost a cold start 200-300 ms.
 *
 * - {@link loadTwilioConfig} resolves the environment once; `null` when credentials or a sender
 *   are missing, in which case SMS is disabled and the app keeps working.
 * - {@link createTwilioSender} is the factory tests call with an explicit config (and `fetch`).
 * - {@link getTwilioSender} / {@link getTwilioClient} are the process-wide singletons over
 *   `Deno.env`.
 *
 * twilio's requests go through a small `httpClient` (the library's documented extension point)
 * built on `fetch`: it points the client at `TWILIO_API_BASE_URL` (the local sandbox) when set,
 * applies a timeout, and avoids Node's http agent in the edge runtime.
 *
 * This is the only module of `shared/` with I/O and the only one not meant for the browser.
 *
 * @module
 */

import type TwilioSDK from "twilio";
import { SmsError } from "./errors.ts";
import { isE164 } from "./phone.ts";
import { analyzeSegments } from "./segments.ts";
import {
  classifyTwilioError,
  type TwilioErrorClassification,
  type TwilioFailure,
} from "./twilio-errors.ts";
import {
  MESSAGE_STATUSES,
  type MessageStatus,
  type SendSmsParams,
  type SendSmsResult,
} from "./types.ts";

export type { SendSmsParams, SendSmsResult } from "./types.ts";

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
  /** Status callback URL for every message (`TWILIO_WEBHOOK_URL`). */
  statusCallbackUrl: string | null;
  /** Default `ValidityPeriod` in seconds (`TWILIO_VALIDITY_PERIOD`, default 3600). */
  validityPeriod: number;
}

/** Default seconds a message may wait in Twilio's queue before it fails instead of going late. */
export const DEFAULT_VALIDITY_PERIOD = 3600;

function clean(value: string | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

/**
 * Resolves Twilio settings from environment variables; `null` unless `TWILIO_ACCOUNT_SID`,
 * `TWILIO_AUTH_TOKEN` and a sender (`TWILIO_PHONE_NUMBER` or `TWILIO_MESSAGING_SERVICE_SID`)
 * are all set.
 */
export function loadTwilioConfig(
  env: Readonly<Record<string, string | undefined>>,
): TwilioConfig | null {
  const accountSid = clean(env.TWILIO_ACCOUNT_SID);
  const authToken = clean(env.TWILIO_AUTH_TOKEN);
  const from = clean(env.TWILIO_PHONE_NUMBER);
  const messagingServiceSid = clean(env.TWILIO_MESSAGING_SERVICE_SID);
  if (!accountSid || !authToken || (!from && !messagingServiceSid)) return null;
  const validity = Number(clean(env.TWILIO_VALIDITY_PERIOD) ?? DEFAULT_VALIDITY_PERIOD);
  return {
    accountSid,
    authToken,
    from,
    messagingServiceSid,
    apiBaseUrl: clean(env.TWILIO_API_BASE_URL)?.replace(/\/+$/, "") ?? null,
    statusCallbackUrl: clean(env.TWILIO_WEBHOOK_URL),
    validityPeriod: Number.isInteger(validity) && validity >= 1 && validity <= 36000
      ? validity
      : DEFAULT_VALIDITY_PERIOD,
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
interface TwilioRequestOptions {
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
interface TwilioHttpResponse {
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
  /** Per-request timeout. Default 15 s. */
  timeoutMs?: number;
}

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
  const timeoutMs = options.timeoutMs ?? 15_000;
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

/** The twilio module, as the lazy import returns it. */
export type TwilioModule = typeof TwilioSDK;
/** twilio's REST client. */
export type TwilioClient = TwilioSDK.Twilio;

/** Options of {@link createTwilioSender}. */
export interface TwilioSenderOptions {
  /** fetch used for Twilio's API (tests inject one). */
  fetch?: typeof fetch;
  /** Per-request timeout in ms. Default 15 s. */
  timeoutMs?: number;
  /** Loads the twilio module. Default: `import("twilio")`, on first use. */
  loadTwilio?: () => Promise<TwilioModule>;
}

/** Sends messages with one Twilio configuration. */
export interface TwilioSender {
  readonly config: TwilioConfig;
  /** twilio's REST client (imports twilio on first call). */
  client(): Promise<TwilioClient>;
  /**
   * Creates a message with `StatusCallback` and `ValidityPeriod` set. Resolves to Twilio's sid,
   * status and segment count; rejects with a {@link TwilioSendError} carrying the classification.
   */
  sendMessage(params: SendSmsParams): Promise<SendSmsResult>;
}

async function importTwilio(): Promise<TwilioModule> {
  const mod = await import("twilio");
  return (mod.default ?? mod) as TwilioModule;
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

/** Builds a sender for a config; twilio itself is imported on the first send. */
export function createTwilioSender(
  config: TwilioConfig,
  options: TwilioSenderOptions = {},
): TwilioSender {
  let clientPromise: Promise<TwilioClient> | null = null;
  const client = () => {
    clientPromise ??= (options.loadTwilio ?? importTwilio)().then((twilio) =>
      twilio(config.accountSid, config.authToken, {
        httpClient: createFetchHttpClient({
          baseUrl: config.apiBaseUrl,
          fetch: options.fetch,
          timeoutMs: options.timeoutMs,
        }) as unknown as TwilioSDK.RequestClient,
        autoRetry: false,
      })
    );
    return clientPromise;
  };

  const http = createFetchHttpClient({
    baseUrl: config.apiBaseUrl,
    fetch: options.fetch,
    timeoutMs: options.timeoutMs,
  });

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
    const analysis = analyzeSegments(params.body);
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

  return { config, client, sendMessage };
}

// --- process-wide singletons --------------------------------------------------------------

function processEnv(): Record<string, string | undefined> {
  const deno = (globalThis as { Deno?: { env: { toObject(): Record<string, string> } } }).Deno;
  try {
    return deno ? deno.env.toObject() : {};
  } catch {
    // Without --allow-env there is no configuration, hence no SMS.
    return {};
  }
}

/** The sender for `env`, or `null` when Twilio is not configured there (SMS disabled). */
export function twilioSenderFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): TwilioSender | null {
  const config = loadTwilioConfig(env);
  return config ? createTwilioSender(config) : null;
}

let singleton: { sender: TwilioSender | null } | null = null;

/** The sender configured from `Deno.env`, resolved once; `null` when SMS is disabled. */
export function getTwilioSender(): TwilioSender | null {
  singleton ??= { sender: twilioSenderFromEnv(processEnv()) };
  return singleton.sender;
}

/** twilio's client configured from `Deno.env`, or `null` when SMS is disabled. */
export async function getTwilioClient(): Promise<TwilioClient | null> {
  const sender = getTwilioSender();
  return sender ? await sender.client() : null;
}

/** Whether SMS is configured (for the given env, default `Deno.env` as resolved once). */
export function isSmsEnabled(env?: Readonly<Record<string, string | undefined>>): boolean {
  return env ? loadTwilioConfig(env) !== null : getTwilioSender() !== null;
}

/** Forgets the singleton so the next call re-reads the environment (tests only). */
export function resetTwilioSingleton(): void {
  singleton = null;
}
