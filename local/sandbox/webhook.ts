/**
 * Outgoing webhook requests (status callbacks and inbound messages), signed the way Twilio signs
 * them, using twilio's own library so the app's validation is tested against the real algorithm,
 * and retried as Twilio retries them: by the URL's connection overrides (`#rc=…&rp=…`), else
 * once on a failed connection (Twilio's defaults `rc=1`, `rp=ct`).
 * Source: https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides
 * @module
 */
import twilio from "twilio";
import type { DeliveryResult } from "./store.ts";

/** Twilio gives up on a webhook after 15 s. */
export const WEBHOOK_TIMEOUT_MS = 15_000;

/** A signed webhook request to send. */
export interface WebhookRequest {
  url: string;
  params: Record<string, string>;
  authToken: string;
  idempotencyToken: string;
  /** Aborts the request when the sandbox closes. */
  signal: AbortSignal;
  timeoutMs?: number;
}

/** How one webhook is retried, from its URL's fragment (Twilio's connection overrides). */
export interface RetryPolicy {
  /** Retries after the first attempt (`rc`, 0-5; default 1). */
  retries: number;
  /** Which failures are retried (`rp`: `ct`, `rt`, `4xx`, `5xx`; `all` is every one). */
  on: ReadonlySet<"ct" | "rt" | "4xx" | "5xx">;
  /** Read timeout per attempt (`rt`, default 15 s). */
  readTimeoutMs: number;
  /** Every attempt together (`tt`, at most and by default 15 s). */
  totalMs: number;
}

/**
 * The URL Twilio calls and signs (without its fragment) and the retry policy its fragment asks
 * for. Values outside Twilio's ranges fall back to the defaults (Twilio would refuse them with
 * errors 11237-11243; the app never sends such a URL).
 */
export function retryPolicyOf(url: string): { target: string; policy: RetryPolicy } {
  const hash = url.indexOf("#");
  const fragment = new URLSearchParams(hash === -1 ? "" : url.slice(hash + 1));
  const int = (key: string, min: number, max: number, fallback: number) => {
    const v = fragment.get(key);
    return v !== null && /^\d+$/.test(v) && +v >= min && +v <= max ? +v : fallback;
  };
  const kinds = ["ct", "rt", "4xx", "5xx"] as const;
  const asked = (fragment.get("rp") ?? "ct").split(",");
  const on = new Set(
    asked.includes("all") ? kinds : kinds.filter((k) => asked.includes(k)),
  );
  return {
    target: hash === -1 ? url : url.slice(0, hash),
    policy: {
      retries: int("rc", 0, 5, 1),
      on: on.size ? on : new Set(["ct"] as const),
      readTimeoutMs: int("rt", 100, 15_000, WEBHOOK_TIMEOUT_MS),
      totalMs: int("tt", 100, 15_000, WEBHOOK_TIMEOUT_MS),
    },
  };
}

/** Which retry policy a failed attempt falls under; `null` for a success (below 400). */
function failureKind(outcome: WebhookOutcome): "ct" | "rt" | "4xx" | "5xx" | null {
  if (outcome.httpStatus === null) return outcome.error === "timed out" ? "rt" : "ct";
  if (outcome.httpStatus >= 500) return "5xx";
  if (outcome.httpStatus >= 400) return "4xx";
  return null;
}

/** The delivery result plus the answer's content, for callers that show it (inbound). */
export interface WebhookOutcome extends DeliveryResult {
  contentType: string | null;
  body: string | null;
}

/**
 * POSTs `params` form-encoded with `X-Twilio-Signature` and `I-Twilio-Idempotency-Token`, and
 * retries as the URL's connection overrides say (same token, same signature: a retry is the same
 * request). Never throws: an unreachable or slow target is an outcome to record, not a sandbox
 * failure. The outcome is the last attempt's, with the number of attempts made.
 */
export async function postSignedForm(request: WebhookRequest): Promise<WebhookOutcome> {
  const { target, policy } = retryPolicyOf(request.url);
  const started = performance.now();
  // Twilio leaves the fragment out of the URL it signs (and no client sends a fragment).
  const signature = twilio.getExpectedTwilioSignature(request.authToken, target, request.params);
  let outcome: WebhookOutcome;
  let attempts = 0;
  for (;;) {
    attempts++;
    const left = policy.totalMs - (performance.now() - started);
    outcome = await attempt(
      request,
      target,
      signature,
      Math.min(
        request.timeoutMs ?? policy.readTimeoutMs,
        Math.max(1, left),
      ),
    );
    const kind = failureKind(outcome);
    if (
      kind === null || attempts > policy.retries || !policy.on.has(kind) ||
      performance.now() - started >= policy.totalMs || request.signal.aborted
    ) break;
  }
  return { ...outcome, attempts, durationMs: Math.round(performance.now() - started) };
}

async function attempt(
  request: WebhookRequest,
  target: string,
  signature: string,
  timeoutMs: number,
): Promise<WebhookOutcome> {
  const started = performance.now();
  const controller = new AbortController();
  const onAbort = () => controller.abort(new Error("sandbox closed"));
  request.signal.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new Error("timed out")), timeoutMs);
  const base = { url: request.url, idempotencyToken: request.idempotencyToken };
  try {
    const response = await fetch(target, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signature,
        "i-twilio-idempotency-token": request.idempotencyToken,
        "user-agent": "TwilioProxy/1.1",
        accept: "*/*",
      },
      body: new URLSearchParams(request.params).toString(),
      signal: controller.signal,
    });
    const body = await response.text();
    return {
      ...base,
      httpStatus: response.status,
      error: null,
      durationMs: Math.round(performance.now() - started),
      contentType: response.headers.get("content-type"),
      body,
    };
  } catch (error) {
    const reason = controller.signal.aborted ? controller.signal.reason : error;
    return {
      ...base,
      httpStatus: null,
      error: reason instanceof Error ? reason.message : String(reason),
      durationMs: Math.round(performance.now() - started),
      contentType: null,
      body: null,
    };
  } finally {
    clearTimeout(timer);
    request.signal.removeEventListener("abort", onAbort);
  }
}
