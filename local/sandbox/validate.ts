/**
 * Validation of `POST …/Messages.json` parameters, in the order and with the codes Twilio uses,
 * including Twilio's test-credential magic numbers.
 * @module
 */
import { isValidPhoneNumber } from "libphonenumber-js/max";
import { errors, type TwilioErrorBody } from "./twilio-errors.ts";

/** A create request that passed validation. */
export interface CreateRequest {
  to: string;
  /** The `From` given, or `null` when only a Messaging Service was given. */
  from: string | null;
  /** The number the message will leave from (`From`, else the service's first number). */
  sender: string;
  messagingServiceSid: string | null;
  body: string;
  statusCallback: string | null;
  validityPeriod: number | null;
  /** `SmartEncoded=true`: Twilio counts (and sends) the text with its Smart Encoding. */
  smartEncoded: boolean;
}

/** What validation needs to know about the account. */
export interface AccountView {
  phoneNumbers: readonly string[];
  messagingServiceSid: string | null;
  isOptedOut(handset: string, sender: string): boolean;
}

/** Validation result: the request, or the Twilio error to answer with. */
export type CreateValidation = { ok: true; request: CreateRequest } | {
  ok: false;
  error: TwilioErrorBody;
};

/** Twilio's documented body limit for the Messages resource. */
export const MAX_BODY_LENGTH = 1600;

const E164 = /^\+[1-9]\d{1,14}$/;
const MG_SID = /^MG[0-9a-fA-F]{32}$/;

/** Twilio's test-credential `To` numbers and the errors they force. */
const MAGIC_TO: Readonly<Record<string, (to: string, from: string) => TwilioErrorBody>> = {
  "+15005550001": (to) => errors.invalidTo(to),
  "+15005550002": (to, from) => errors.unreachableTo(to, from),
  "+15005550003": (to) => errors.regionNotEnabled(to),
  "+15005550004": () => errors.unsubscribed(),
  "+15005550009": (to) => errors.notMobile(to),
};

/** Twilio's test-credential `From` numbers: +15005550006 always works, these always fail. */
const MAGIC_FROM: Readonly<Record<string, (from: string) => TwilioErrorBody>> = {
  "+15005550001": (from) => errors.invalidFrom(from),
  "+15005550007": (from) => errors.fromNotOwned(from),
  "+15005550008": () => errors.queueFull(),
};
const MAGIC_VALID_FROM = "+15005550006";

/** Validates create parameters against the account. */
export function validateCreate(form: URLSearchParams, account: AccountView): CreateValidation {
  const fail = (error: TwilioErrorBody): CreateValidation => ({ ok: false, error });
  // Twilio treats an empty parameter like a missing one.
  const param = (name: string) => {
    const value = form.get(name);
    return value === null || value === "" ? null : value;
  };
  const to = param("To")?.trim() ?? null;
  const from = param("From")?.trim() ?? null;
  const serviceSid = param("MessagingServiceSid")?.trim() ?? null;
  const body = param("Body");
  const statusCallback = param("StatusCallback");
  const validity = param("ValidityPeriod");

  if (to === null) return fail(errors.toRequired());
  if (from === null && serviceSid === null) return fail(errors.fromRequired());
  if (body === null) return fail(errors.bodyRequired());
  if (body.length > MAX_BODY_LENGTH) return fail(errors.bodyTooLong());

  if (
    serviceSid !== null && (!MG_SID.test(serviceSid) || serviceSid !== account.messagingServiceSid)
  ) {
    return fail(errors.invalidMessagingService(serviceSid));
  }
  const sender = from ?? account.phoneNumbers[0];

  // Magic numbers first: each forces its error whatever a numbering plan says of it (they are
  // valid anyway: NANP area code 500, personal numbers to libphonenumber).
  const magicTo = MAGIC_TO[to];
  if (magicTo) return fail(magicTo(to, sender));
  // Twilio refuses a To its numbering plan does not have (21211), not only a malformed one:
  // an unassigned country code (+999…), a wrong length (+33 1234567), a NANP area code not in
  // service (+1 555…). libphonenumber-js answers as the app's own checks do.
  if (!E164.test(to) || !isValidPhoneNumber(to)) return fail(errors.invalidTo(to));

  if (from !== null) {
    const magicFrom = MAGIC_FROM[from];
    if (magicFrom) return fail(magicFrom(from));
    if (!E164.test(from)) return fail(errors.invalidFrom(from));
    if (from !== MAGIC_VALID_FROM && !account.phoneNumbers.includes(from)) {
      return fail(errors.fromNotOwned(from));
    }
  }

  if (statusCallback !== null && !isHttpUrl(statusCallback)) {
    return fail(errors.invalidStatusCallback(statusCallback));
  }

  let validityPeriod: number | null = null;
  if (validity !== null) {
    validityPeriod = /^\d+$/.test(validity) ? Number(validity) : NaN;
    if (!(validityPeriod >= 1 && validityPeriod <= 36_000)) {
      return fail(errors.invalidValidityPeriod());
    }
  }

  // Twilio enforces STOP itself: after a handset opts out, sends from that sender are refused.
  if (account.isOptedOut(to, sender)) return fail(errors.unsubscribed());

  return {
    ok: true,
    request: {
      to,
      from,
      sender,
      messagingServiceSid: serviceSid,
      body,
      statusCallback,
      validityPeriod,
      // twilio-node writes booleans as "true"/"false"; Twilio reads them case-insensitively.
      smartEncoded: param("SmartEncoded")?.toLowerCase() === "true",
    },
  };
}

function isHttpUrl(value: string): boolean {
  if (value.length > 4000) return false;
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}
