/**
 * Twilio's Messages REST API: create, fetch and list under `/2010-04-01/Accounts/{sid}/…`,
 * with Basic auth, Twilio's validation and the configured fault injection.
 * @module
 */
import { isAuthorized } from "./auth.ts";
import type { SandboxContext } from "./context.ts";
import { failNextEffect } from "./fail-next.ts";
import { pickFault, pickLatencyMs } from "./faults.ts";
import { newSid } from "./ids.ts";
import { DROP, receivedAt } from "./node-server.ts";
import { toMessagePage, toMessageResource } from "./resource.ts";
import { countSegments } from "./segments.ts";
import type { AttemptRecord, MessageFilter } from "./store.ts";
import { json } from "./responses.ts";
import { parseDateBound, sleep } from "./time.ts";
import { errors, type TwilioErrorBody, twilioErrorResponse } from "./twilio-errors.ts";
import { validateCreate } from "./validate.ts";

const ROUTE = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\/([^/]+))?\.json$/;
const LIST_FILTERS = ["To", "From", "DateSent", "DateSent<", "DateSent>"] as const;

/** Handles any request under `/2010-04-01/`. */
export async function handleTwilioApi(
  ctx: SandboxContext,
  request: Request,
  url: URL,
  signal: AbortSignal,
): Promise<Response | typeof DROP> {
  const route = ROUTE.exec(url.pathname);
  const isCreate = route !== null && route[2] === undefined && request.method === "POST";
  if (!isAuthorized(request.headers.get("authorization"), ctx.accountSid, ctx.authToken)) {
    if (isCreate) {
      ctx.store.recordAttempt({
        outcome: "unauthorized",
        httpStatus: 401,
        code: 20003,
        to: null,
        from: null,
        messagingServiceSid: null,
        messageSid: null,
      });
    }
    ctx.log(`${request.method} ${url.pathname} -> 401 20003`);
    return twilioErrorResponse(errors.authenticate(), {
      "www-authenticate": 'Basic realm="Twilio API"',
    });
  }
  // Valid credentials for another account's resources: Twilio does not reveal they exist.
  if (!route || route[1] !== ctx.accountSid) {
    return twilioErrorResponse(errors.notFound(url.pathname));
  }
  const messageSid = route[2];
  if (messageSid !== undefined) {
    if (request.method !== "GET") {
      return twilioErrorResponse(errors.methodNotAllowed(request.method));
    }
    const message = ctx.store.get(messageSid);
    return message
      ? json(toMessageResource(message, ctx.accountSid))
      : twilioErrorResponse(errors.notFound(url.pathname));
  }
  if (request.method === "GET") return list(ctx, url);
  if (request.method === "POST") return await create(ctx, request, signal);
  return twilioErrorResponse(errors.methodNotAllowed(request.method));
}

async function create(
  ctx: SandboxContext,
  request: Request,
  signal: AbortSignal,
): Promise<Response | typeof DROP> {
  // Form bodies never fail to parse: URLSearchParams drops what it cannot decode, and anything
  // that is not a form (JSON, say) simply lacks the parameters, as it would at Twilio.
  const form = new URLSearchParams(await request.text());
  const who = {
    receivedAt: receivedAt(request).toISOString(),
    to: form.get("To"),
    from: form.get("From"),
    messagingServiceSid: form.get("MessagingServiceSid"),
  };
  const config = ctx.config();
  if (!await sleep(pickLatencyMs(config, ctx.random), signal)) {
    // The client gave up before the answer (a draw of the latency past its timeout): an attempt
    // all the same, which a sender's pace and retries count, and one never answered.
    recordTimeout(ctx, who);
    return DROP;
  }

  const fault = pickFault(config, ctx.random);
  if (fault?.kind === "rate_limited") {
    return record(ctx, "rate_limited", errors.tooManyRequests(), who);
  }
  if (fault?.kind === "server_error") {
    const error = fault.status === 500 ? errors.internal() : errors.unavailable();
    return record(ctx, "server_error", error, who);
  }
  if (fault?.kind === "timeout") {
    recordTimeout(ctx, who);
    ctx.log(`create -> timeout (holding ${config.timeoutHangMs} ms, then dropping)`);
    await sleep(config.timeoutHangMs, signal);
    return DROP;
  }

  const validation = validateCreate(form, {
    phoneNumbers: ctx.phoneNumbers,
    messagingServiceSid: ctx.messagingServiceSid,
    isOptedOut: (handset, sender) => ctx.store.isOptedOut(handset, sender),
  });
  if (!validation.ok) return record(ctx, "rejected", validation.error, who);

  const input = validation.request;
  const armed = takeFailNext(ctx, input.to, input.sender);
  if (armed?.kind === "rejected") return record(ctx, "rejected", armed.error, who);
  const { segments, encoding } = countSegments(input.body, input.smartEncoded);
  const now = new Date();
  // Through a Messaging Service Twilio answers `accepted` with no sender chosen yet.
  const initial = input.messagingServiceSid ? "accepted" : "queued";
  const message = ctx.store.add({
    sid: newSid("SM"),
    direction: "outbound-api",
    to: input.to,
    from: input.from,
    body: input.body,
    messagingServiceSid: input.messagingServiceSid,
    status: initial,
    numSegments: segments,
    encoding,
    errorCode: null,
    errorMessage: null,
    dateCreated: now,
    dateUpdated: now,
    dateSent: null,
    statusCallback: input.statusCallback,
    validityPeriod: input.validityPeriod,
    optOutType: null,
    webhook: null,
    timeline: [{ at: now.toISOString(), status: initial, duplicate: false, callback: null }],
  });
  ctx.store.recordAttempt({
    outcome: "created",
    httpStatus: 201,
    code: null,
    ...who,
    messageSid: message.sid,
  });
  ctx.dispatcher.start(message, input.sender, armed?.failure);
  ctx.log(`create ${message.sid} -> 201 ${initial} (${segments} segment(s))`);
  return json(toMessageResource(message, ctx.accountSid), 201);
}

/** Consumes the failure armed for `to`, if any (config `failNext`), and says what it does. */
function takeFailNext(ctx: SandboxContext, to: string, sender: string) {
  const config = ctx.config();
  const code = config.failNext[to];
  if (code === undefined) return null;
  const { [to]: _used, ...rest } = config.failNext;
  ctx.setConfig({ ...config, failNext: rest });
  const effect = failNextEffect(code, to, sender);
  ctx.log(`failNext: ${code} applied`);
  return effect;
}

function list(ctx: SandboxContext, url: URL): Response {
  const q = url.searchParams;
  const filter: MessageFilter = {};
  const kept = new URLSearchParams();
  for (const name of LIST_FILTERS) {
    const value = q.get(name);
    if (value === null || value === "") continue;
    kept.set(name, value);
    if (name === "To") filter.to = value;
    else if (name === "From") filter.from = value;
    else {
      const bound = parseDateBound(value);
      if (!bound) return twilioErrorResponse(errors.invalidParameter(name, value));
      if (name === "DateSent") filter.sentOn = bound;
      // "DateSent<" means on or before; "DateSent>" on or after (Twilio's <= and >=).
      else if (name === "DateSent<") filter.sentBefore = bound.to;
      else filter.sentAfter = bound.from;
    }
  }
  const pageSize = intParam(q.get("PageSize"), 50);
  if (pageSize === null || pageSize < 1 || pageSize > 1000) {
    return twilioErrorResponse(errors.invalidParameter("PageSize", q.get("PageSize") ?? ""));
  }
  const page = intParam(q.get("Page"), 0);
  if (page === null || page < 0) {
    return twilioErrorResponse(errors.invalidParameter("Page", q.get("Page") ?? ""));
  }
  const items = ctx.store.query(filter);
  return json(toMessagePage(items, ctx.accountSid, kept, page, pageSize));
}

function intParam(value: string | null, fallback: number): number | null {
  if (value === null || value === "") return fallback;
  return /^\d{1,9}$/.test(value) ? Number(value) : null;
}

/** Who a create was from and to, and when it arrived, as its attempt records them. */
type Who = Pick<AttemptRecord, "to" | "from" | "messagingServiceSid" | "receivedAt">;

/** Records a create that gets no answer: the connection is dropped or the client left. */
function recordTimeout(ctx: SandboxContext, who: Who): void {
  ctx.store.recordAttempt({
    outcome: "timeout",
    httpStatus: null,
    code: null,
    ...who,
    messageSid: null,
  });
}

function record(
  ctx: SandboxContext,
  outcome: AttemptRecord["outcome"],
  error: TwilioErrorBody,
  who: Who = {
    to: null,
    from: null,
    messagingServiceSid: null,
  },
): Response {
  ctx.store.recordAttempt({
    outcome,
    httpStatus: error.status,
    code: error.code,
    ...who,
    messageSid: null,
  });
  ctx.log(`create -> ${error.status} ${error.code}`);
  return twilioErrorResponse(error);
}
