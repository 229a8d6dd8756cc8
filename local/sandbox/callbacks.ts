/**
 * Status-callback dispatcher: advances a created message through its lifecycle and reports each
 * change to its StatusCallback, with Twilio's parameters, signature and idempotency token, in
 * lifecycle or shuffled order and with optional duplicates.
 * @module
 */
import type { FailureSpec, SandboxConfig } from "./config.ts";
import { newIdempotencyToken } from "./ids.ts";
import { API_VERSION } from "./resource.ts";
import type { MessageStatus, SandboxStore, StoredMessage } from "./store.ts";
import type { TaskTracker } from "./tasks.ts";
import { rawDlrDoneDate, sleep } from "./time.ts";
import { deliveryErrorMessages } from "./twilio-errors.ts";
import { postSignedForm } from "./webhook.ts";
import { priceOnStatus } from "./pricing.ts";

/** One status change in a message's planned life. */
export interface LifecycleStep {
  status: MessageStatus;
  errorCode: number | null;
}

/** One planned callback request; duplicates share the original's token. */
interface Delivery {
  step: LifecycleStep;
  /** Position of the step in lifecycle order, so late arrivals never move the status back. */
  rank: number;
  idempotencyToken: string;
  duplicate: boolean;
}

/** What the dispatcher needs from the sandbox. */
export interface DispatcherDeps {
  accountSid: string;
  authToken: string;
  config: () => SandboxConfig;
  random: () => number;
  log: (line: string) => void;
  tasks: TaskTracker;
  store: SandboxStore;
}

/**
 * The status changes Twilio reports after creation. No callback is sent for the initial status;
 * a Messaging Service adds `accepted → queued`; `failed` messages never reach `sent`.
 */
export function lifecycleFor(
  viaService: boolean,
  failure: FailureSpec | undefined,
): LifecycleStep[] {
  const steps: LifecycleStep[] = viaService ? [{ status: "queued", errorCode: null }] : [];
  if (failure?.status === "failed") {
    steps.push({ status: "failed", errorCode: failure.errorCode });
    return steps;
  }
  steps.push({ status: "sent", errorCode: null });
  steps.push(
    failure
      ? { status: "undelivered", errorCode: failure.errorCode }
      : { status: "delivered", errorCode: null },
  );
  return steps;
}

/** Runs each created message's lifecycle in the background. */
export class CallbackDispatcher {
  #deps: DispatcherDeps;

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
  }

  /**
   * Plans and starts the lifecycle of a freshly created message. `failure` (a one-shot failure
   * armed for this message) wins over the number's configured `failures`.
   */
  start(message: StoredMessage, sender: string, failure?: FailureSpec): void {
    const config = this.#deps.config();
    const steps = lifecycleFor(
      message.messagingServiceSid !== null,
      failure ?? config.failures[message.to],
    );
    const deliveries = this.#plan(steps, config, message.statusCallback !== null);
    this.#deps.tasks.track(this.#run(message, sender, deliveries));
  }

  #plan(steps: LifecycleStep[], config: SandboxConfig, hasCallback: boolean): Delivery[] {
    const random = this.#deps.random;
    const deliveries: Delivery[] = [];
    steps.forEach((step, rank) => {
      const original = { step, rank, idempotencyToken: newIdempotencyToken(), duplicate: false };
      deliveries.push(original);
      if (hasCallback && config.duplicateRate > 0 && random() < config.duplicateRate) {
        deliveries.push({ ...original, duplicate: true });
      }
    });
    if (config.callbackOrder === "shuffled") {
      for (let i = deliveries.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [deliveries[i], deliveries[j]] = [deliveries[j], deliveries[i]];
      }
    }
    return deliveries;
  }

  async #run(message: StoredMessage, sender: string, deliveries: Delivery[]): Promise<void> {
    const { tasks, log } = this.#deps;
    let reached = -1;
    // A duplicate is a re-delivery of the very same request: same parameters, same signature.
    const sentParams = new Map<string, Record<string, string>>();
    for (const delivery of deliveries) {
      if (!await sleep(this.#deps.config().callbackDelayMs, tasks.signal)) return;
      // After `DELETE /api/messages` a cleared message stays quiet, so one test's late callbacks
      // do not land in the next test.
      if (this.#deps.store.get(message.sid) !== message) return;
      const now = new Date();
      if (!delivery.duplicate && delivery.rank > reached) {
        reached = delivery.rank;
        advance(message, delivery.step, sender, now);
        message.price = priceOnStatus(message, delivery.step.status, this.#deps.config());
      }
      if (message.statusCallback === null) {
        message.timeline.push({
          at: now.toISOString(),
          status: delivery.step.status,
          duplicate: delivery.duplicate,
          callback: null,
        });
        continue;
      }
      if (this.#drops(message)) {
        message.timeline.push({
          at: now.toISOString(),
          status: delivery.step.status,
          duplicate: delivery.duplicate,
          callback: null,
          dropped: true,
        });
        log(`callback ${message.sid} ${delivery.step.status} -> dropped`);
        continue;
      }
      const params = sentParams.get(delivery.idempotencyToken) ??
        this.#params(message, sender, delivery.step, now);
      sentParams.set(delivery.idempotencyToken, params);
      const result = await postSignedForm({
        url: message.statusCallback,
        params,
        authToken: this.#deps.authToken,
        idempotencyToken: delivery.idempotencyToken,
        signal: tasks.signal,
      });
      const { contentType: _contentType, body: _body, ...callback } = result;
      message.timeline.push({
        at: now.toISOString(),
        status: delivery.step.status,
        duplicate: delivery.duplicate,
        callback,
      });
      const outcome = result.httpStatus ?? `error (${result.error})`;
      log(
        `callback ${message.sid} ${delivery.step.status}${
          delivery.duplicate ? " (dup)" : ""
        } -> ${outcome}`,
      );
    }
  }

  /** Whether this callback is lost (the message's status moves on regardless). */
  #drops(message: StoredMessage): boolean {
    const config = this.#deps.config();
    if (config.dropCallbacksTo.includes(message.to)) return true;
    return config.callbackDropRate > 0 && this.#deps.random() < config.callbackDropRate;
  }

  #params(
    message: StoredMessage,
    sender: string,
    step: LifecycleStep,
    now: Date,
  ): Record<string, string> {
    const params: Record<string, string> = {
      AccountSid: this.#deps.accountSid,
      ApiVersion: API_VERSION,
      From: sender,
      To: message.to,
      MessageSid: message.sid,
      SmsSid: message.sid,
      MessageStatus: step.status,
      SmsStatus: step.status,
    };
    if (message.messagingServiceSid) params.MessagingServiceSid = message.messagingServiceSid;
    if (step.errorCode !== null) params.ErrorCode = String(step.errorCode);
    if (step.status === "delivered" || step.status === "undelivered") {
      params.RawDlrDoneDate = rawDlrDoneDate(now);
    }
    return params;
  }
}

/** Applies a lifecycle step to the stored resource, as Twilio's resource would show it. */
function advance(message: StoredMessage, step: LifecycleStep, sender: string, now: Date): void {
  message.status = step.status;
  message.dateUpdated = now;
  message.from ??= sender;
  if (step.status !== "queued" && step.status !== "failed") message.dateSent ??= now;
  if (step.errorCode !== null) {
    message.errorCode = step.errorCode;
    message.errorMessage = deliveryErrorMessages[step.errorCode] ?? null;
  }
}
