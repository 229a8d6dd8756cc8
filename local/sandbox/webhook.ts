/**
 * Outgoing webhook requests (status callbacks and inbound messages), signed the way Twilio signs
 * them, using twilio's own library so the app's validation is tested against the real algorithm.
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

/** The delivery result plus the answer's content, for callers that show it (inbound). */
export interface WebhookOutcome extends DeliveryResult {
  contentType: string | null;
  body: string | null;
}

/**
 * POSTs `params` form-encoded with `X-Twilio-Signature` and `I-Twilio-Idempotency-Token`.
 * Never throws: an unreachable or slow target is an outcome to record, not a sandbox failure.
 */
export async function postSignedForm(request: WebhookRequest): Promise<WebhookOutcome> {
  const started = performance.now();
  const signature = twilio.getExpectedTwilioSignature(
    request.authToken,
    request.url,
    request.params,
  );
  const controller = new AbortController();
  const onAbort = () => controller.abort(new Error("sandbox closed"));
  request.signal.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new Error("timed out")),
    request.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
  );
  const base = { url: request.url, idempotencyToken: request.idempotencyToken };
  try {
    const response = await fetch(request.url, {
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
