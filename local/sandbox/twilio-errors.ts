/**
 * Twilio's REST error body and the specific errors the Messages API returns.
 * Messages follow Twilio's wording so logs and app-side classification look like production.
 * @module
 */

/** The JSON body Twilio answers with on any REST error. */
export interface TwilioErrorBody {
  code: number;
  message: string;
  more_info: string;
  status: number;
}

/** Builds Twilio's error body; `more_info` always points at the code's docs page. */
export function twilioError(code: number, message: string, status = 400): TwilioErrorBody {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

/** The body as an HTTP response with the matching status. */
export function twilioErrorResponse(error: TwilioErrorBody, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(error), { status: error.status, headers: h });
}

/** The errors the sandbox can produce, by Twilio code. */
export const errors = {
  authenticate: () => twilioError(20003, "Authenticate", 401),
  notFound: (path: string) =>
    twilioError(20404, `The requested resource ${path} was not found`, 404),
  methodNotAllowed: (method: string) => twilioError(20004, `Method not allowed: ${method}`, 405),
  invalidParameter: (name: string, value: string) =>
    twilioError(20001, `Invalid value '${value}' for ${name}`, 400),
  tooManyRequests: () => twilioError(20429, "Too Many Requests", 429),
  internal: () => twilioError(20500, "Internal Server Error", 500),
  unavailable: () => twilioError(20503, "Service Unavailable", 503),
  payloadTooLarge: () => twilioError(20001, "Request body too large", 413),
  toRequired: () => twilioError(21604, "A 'To' phone number is required."),
  fromRequired: () => twilioError(21603, "A 'From' phone number is required."),
  bodyRequired: () => twilioError(21602, "Message body is required."),
  bodyTooLong: () =>
    twilioError(21617, "The concatenated message body exceeds the 1600 character limit."),
  invalidTo: (to: string) =>
    twilioError(21211, `The 'To' number ${to} is not a valid phone number.`),
  unreachableTo: (to: string, from: string) =>
    twilioError(
      21612,
      `The 'To' phone number: ${to}, is not currently reachable using the 'From' phone number: ${from} via SMS.`,
    ),
  regionNotEnabled: (to: string) =>
    twilioError(
      21408,
      `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${to}.`,
    ),
  unsubscribed: () => twilioError(21610, "Attempt to send to unsubscribed recipient"),
  notMobile: (to: string) => twilioError(21614, `To number: ${to}, is not a mobile number`),
  invalidFrom: (from: string) =>
    twilioError(
      21212,
      `The 'From' number ${from} is not a valid phone number, shortcode, or alphanumeric sender ID.`,
    ),
  fromNotOwned: (from: string) =>
    twilioError(
      21606,
      `The From phone number ${from} is not a valid, SMS-capable inbound phone number or short code for your account.`,
    ),
  queueFull: () =>
    twilioError(21611, "This 'From' number has exceeded the maximum number of queued messages"),
  invalidMessagingService: (sid: string) =>
    twilioError(21705, `The Messaging Service ${sid} is invalid`),
  invalidStatusCallback: (url: string) =>
    twilioError(21609, `The StatusCallback URL ${url} is not a valid URL.`),
  invalidValidityPeriod: () => twilioError(21624, "Invalid validity period value"),
} as const;

/** Short descriptions for delivery error codes, shown as `error_message` on failed messages. */
export const deliveryErrorMessages: Readonly<Record<number, string>> = {
  30001: "Queue overflow",
  30002: "Account suspended",
  30003: "Unreachable destination handset",
  30004: "Message blocked",
  30005: "Unknown destination handset",
  30006: "Landline or unreachable carrier",
  30007: "Message filtered",
  30008: "Unknown error",
  30034: "Message from an unregistered number",
};
