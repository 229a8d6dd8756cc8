/**
 * The one error type and the one JSON error shape every function answers with:
 * `{ "error": { "code", "message" } }`.
 *
 * @module
 */

import type { ErrorBody, ErrorCode } from "./schemas.ts";

// The types are inferred from the contract's zod schemas (`schemas.ts`, which builds its
// `errorCodeSchema` from ERROR_STATUS's keys); a type-only import keeps zod out of the graph of
// every module that only throws or answers errors.
export type { ErrorBody, ErrorCode } from "./schemas.ts";

/** The error codes of the HTTP contracts, each with its fixed HTTP status. */
export const ERROR_STATUS = Object.freeze(
  {
    invalid_request: 400,
    unauthorized: 401,
    // twilio-webhook answers 403 for a bad signature (DESIGN.md, "Auth").
    forbidden: 403,
    customer_not_found: 404,
    // Not a member of it: the same answer as a business that does not exist.
    business_not_found: 404,
    no_consent: 409,
    opted_out: 409,
    // The key was used for another request, or its first request is still running.
    idempotency_conflict: 409,
    // The business has no help contact (businesses.sms_help_contact): CTIA's HELP answer needs one.
    help_contact_missing: 409,
    invalid_phone: 422,
    // The number's country is not among the business's sms_allowed_countries.
    country_not_permitted: 422,
    message_too_long: 422,
    provider_rejected: 422,
    // A campaign template's placeholder is not one of TEMPLATE_VARIABLES (details.unknown).
    unknown_template_variable: 422,
    // A campaign's audience has no one who may be texted.
    empty_audience: 422,
    // A campaign's schedule cannot be met (expires before it starts, too far ahead…).
    invalid_schedule: 422,
    campaign_not_found: 404,
    // The action does not apply to the campaign's status (resume a cancelled one…).
    campaign_state_conflict: 409,
    quota_exceeded: 429,
    sms_disabled: 503,
    internal: 500,
  } as const satisfies Record<string, number>,
);

/** Options of {@link SmsError}. */
export interface SmsErrorOptions {
  /** Underlying error, kept for logs only (never serialised into a response). */
  cause?: unknown;
  /** Per-field messages, e.g. from schema validation. */
  fieldErrors?: Record<string, string[]>;
  /** Machine-readable facts for the caller (segment counts, Twilio's code…); sent in responses. */
  details?: Record<string, unknown>;
}

/** An error that maps to an HTTP status and a machine-readable snake_case code. */
export class SmsError extends Error {
  /** Machine-readable code of the contract. */
  readonly code: ErrorCode;
  /** HTTP status that goes with {@link code}. */
  readonly status: number;
  /** Per-field messages, when the error comes from validation. */
  readonly fieldErrors?: Record<string, string[]>;
  /** Machine-readable facts sent with the error. */
  readonly details?: Record<string, unknown>;

  /** Creates an error whose HTTP status follows from `code`. */
  constructor(code: ErrorCode, message: string, options: SmsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SmsError";
    this.code = code;
    this.status = ERROR_STATUS[code];
    if (options.fieldErrors) this.fieldErrors = options.fieldErrors;
    if (options.details) this.details = options.details;
  }
}

/** Whether `value` is an {@link SmsError} (also across realms/bundles, by shape). */
export function isSmsError(value: unknown): value is SmsError {
  if (value instanceof SmsError) return true;
  if (typeof value !== "object" || value === null) return false;
  const v = value as { code?: unknown; status?: unknown; name?: unknown };
  return typeof v.code === "string" && v.code in ERROR_STATUS &&
    v.status === ERROR_STATUS[v.code as ErrorCode];
}

/** The JSON body for an error code and message, with optional details. */
export function errorBody(
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): ErrorBody {
  return { error: details ? { code, message, details } : { code, message } };
}

/** Options of {@link errorResponse}. */
export interface ErrorResponseOptions {
  /** Extra headers (CORS, request id…). */
  headers?: HeadersInit;
  /** Message used for unexpected errors; their own message is never exposed. */
  internalMessage?: string;
}

/**
 * Converts any thrown value into a JSON error `Response`.
 *
 * An {@link SmsError} keeps its code, status and message; anything else becomes 500 `internal`
 * with a generic message, because unexpected errors may carry secrets or message bodies.
 */
export function errorResponse(error: unknown, options: ErrorResponseOptions = {}): Response {
  const known = isSmsError(error);
  const code: ErrorCode = known ? error.code : "internal";
  const message = known ? error.message : (options.internalMessage ?? "Internal error");
  const headers = new Headers(options.headers);
  headers.set("content-type", "application/json; charset=utf-8");
  const details = known
    ? error.details ?? (error.fieldErrors ? { fieldErrors: error.fieldErrors } : undefined)
    : undefined;
  return new Response(JSON.stringify(errorBody(code, message, details)), {
    status: ERROR_STATUS[code],
    headers,
  });
}

/** Outcome of a parser (the contract's, the webhook's): the data, or the error with messages per field. */
export type ParseResult<T> =
  | { ok: true; data: T }
  | {
    ok: false;
    code: "invalid_request" | "message_too_long";
    message: string;
    /** Messages per field path (`body`, `customerId`, `(root)`…). */
    fieldErrors: Record<string, string[]>;
  };

/** Converts a failed {@link ParseResult} into the {@link SmsError} a handler throws or answers. */
export function parseError(result: Extract<ParseResult<unknown>, { ok: false }>): SmsError {
  return new SmsError(result.code, result.message, { fieldErrors: result.fieldErrors });
}
