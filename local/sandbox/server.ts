/**
 * The Twilio sandbox: a local stand-in for Twilio's Messages API (create, fetch, list, status
 * callbacks, inbound webhooks, fault injection) plus a JSON control API and a web inbox.
 *
 * ```ts
 * const sandbox = await startSandbox({ port: 0, accountSid, authToken, phoneNumbers: ["+12125550100"] });
 * // … point the app's Twilio client at sandbox.url …
 * await sandbox.idle(); // every status callback has been sent
 * await sandbox.close();
 * ```
 * @module
 */
import { CallbackDispatcher } from "./callbacks.ts";
import { applyConfigPatch, DEFAULT_CONFIG, type SandboxConfig } from "./config.ts";
import type { SandboxContext } from "./context.ts";
import { handleControlApi } from "./control-api.ts";
import { inboxPage } from "./inbox.ts";
import { DROP, listen } from "./node-server.ts";
import { SandboxStore } from "./store.ts";
import { TaskTracker } from "./tasks.ts";
import { handleTwilioApi } from "./twilio-api.ts";
import { errors, twilioErrorResponse } from "./twilio-errors.ts";

export type { FailureSpec, SandboxConfig } from "./config.ts";
export { DEFAULT_CONFIG } from "./config.ts";
export type { AttemptRecord, DeliveryResult, StoredMessage, TimelineEntry } from "./store.ts";

/** How to start a sandbox. */
export interface SandboxOptions {
  /** Port to listen on; 0 picks any free port. */
  port: number;
  /** Interface to bind; default `127.0.0.1`. */
  hostname?: string;
  /** `AC` + 32 hex: the only account the sandbox knows. */
  accountSid: string;
  /** 32 hex: the Basic-auth password, and the key status callbacks are signed with. */
  authToken: string;
  /** E.164 numbers the account owns (valid `From` values). */
  phoneNumbers: string[];
  /** `MG` + 32 hex: accepted instead of `From`; sends from `phoneNumbers[0]`. */
  messagingServiceSid?: string;
  /** Where simulated inbound replies are POSTed (the app's public twilio-webhook URL). */
  inboundWebhookUrl?: string;
  /** Initial fault-injection and callback settings, over {@link DEFAULT_CONFIG}. */
  config?: Partial<SandboxConfig>;
  /** Source of randomness for faults, duplicates and shuffling; inject one for determinism. */
  random?: () => number;
  /** Receives one line per notable event. Never given auth tokens or message bodies. */
  log?: (line: string) => void;
}

/** A running sandbox. */
export interface Sandbox {
  /** Base URL, e.g. `http://127.0.0.1:54324`; Twilio's API lives under `${url}/2010-04-01`. */
  url: string;
  port: number;
  /** Resolves once every pending status callback and inbound webhook has been sent. */
  idle(): Promise<void>;
  /** Cancels pending callbacks and held requests, closes connections, stops listening. */
  close(): Promise<void>;
}

const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
const SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;
const E164 = /^\+[1-9]\d{1,14}$/;
const MAX_BODY_BYTES = 1024 * 1024;

/** Starts a sandbox; rejects on invalid options or when the port cannot be bound. */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  validateOptions(options);
  const log = options.log ?? (() => {});
  const wiring: Partial<SandboxConfig> = { inboundWebhookUrl: options.inboundWebhookUrl ?? null };
  const defaults = mustApply({ ...DEFAULT_CONFIG, failures: {}, failNext: {} }, wiring);
  let config = mustApply(defaults, options.config ?? {});

  const tasks = new TaskTracker();
  const store = new SandboxStore();
  const random = options.random ?? Math.random;
  const ctx: SandboxContext = {
    accountSid: options.accountSid,
    authToken: options.authToken,
    phoneNumbers: [...options.phoneNumbers],
    messagingServiceSid: options.messagingServiceSid ?? null,
    store,
    tasks,
    dispatcher: new CallbackDispatcher({
      accountSid: options.accountSid,
      authToken: options.authToken,
      config: () => config,
      random,
      log,
      tasks,
      store,
    }),
    config: () => config,
    setConfig: (next) => (config = next),
    // Reset restores the built-in defaults but keeps the webhook wiring given at start.
    defaults: () => structuredClone(defaults),
    random,
    log,
  };

  const hostname = options.hostname ?? "127.0.0.1";
  const server = await listen({
    hostname,
    port: options.port,
    maxBodyBytes: MAX_BODY_BYTES,
    handler: (request, signal) => route(ctx, request, signal),
    onError: (error) => {
      log(`internal error: ${error instanceof Error ? error.name : "unknown"}`);
      return twilioErrorResponse(errors.internal());
    },
    reject: (reason) =>
      twilioErrorResponse(
        reason === "too-large" ? errors.payloadTooLarge() : errors.notFound("(invalid target)"),
      ),
  });
  const publicHost = hostname === "0.0.0.0" || hostname === "::"
    ? "127.0.0.1"
    : hostname.includes(":")
    ? `[${hostname}]`
    : hostname;
  const url = `http://${publicHost}:${server.port}`;
  log(`sandbox listening on ${url}`);

  let closing: Promise<void> | null = null;
  return {
    url,
    port: server.port,
    idle: () => tasks.idle(),
    close: () =>
      closing ??= (async () => {
        await tasks.close();
        await server.close();
      })(),
  };
}

async function route(
  ctx: SandboxContext,
  request: Request,
  signal: AbortSignal,
): Promise<Response | typeof DROP> {
  const url = new URL(request.url);
  if (url.pathname.startsWith("/2010-04-01/")) {
    return await handleTwilioApi(ctx, request, url, signal);
  }
  if (url.pathname.startsWith("/api/")) return await handleControlApi(ctx, request, url);
  if (url.pathname === "/" && request.method === "GET") return inboxPage(ctx, url);
  return twilioErrorResponse(errors.notFound(url.pathname));
}

function validateOptions(options: SandboxOptions): void {
  if (!ACCOUNT_SID.test(options.accountSid)) throw new TypeError("accountSid must be AC + 32 hex");
  if (typeof options.authToken !== "string" || options.authToken.length === 0) {
    throw new TypeError("authToken is required");
  }
  if (options.phoneNumbers.length === 0 || !options.phoneNumbers.every((n) => E164.test(n))) {
    throw new TypeError("phoneNumbers must be a non-empty list of E.164 numbers");
  }
  if (options.messagingServiceSid !== undefined && !SERVICE_SID.test(options.messagingServiceSid)) {
    throw new TypeError("messagingServiceSid must be MG + 32 hex");
  }
}

function mustApply(base: SandboxConfig, patch: Partial<SandboxConfig>): SandboxConfig {
  const result = applyConfigPatch(base, patch);
  if (!result.ok) throw new TypeError(`invalid sandbox config: ${result.error}`);
  return result.config;
}
