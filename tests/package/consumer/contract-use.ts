/**
 * A frontend's use of `@sms-foundation/client`, type-checked strictly (no `skipLibCheck`, so the
 * package's own .d.ts files are checked too) under `module: nodenext`, without
 * `allowImportingTsExtensions`. No supabase-js here: the package needs only its `functions.invoke`.
 *
 * Every `@ts-expect-error` is a negative check: tsc fails if the line below it stops being an
 * error (a type that widened to `any`, a union that lost its discriminant…).
 */
import {
  type ErrorCode,
  type FunctionsClient,
  measureMessage,
  type MessageLengthFacts,
  sendSms,
  type SendSmsOutcome,
  type SendSmsResponse,
  smsMessageSchema,
} from "@sms-foundation/client";

/** What a page shows after a send: the typed answer or the typed error. */
export async function describeSend(
  client: FunctionsClient,
  customerId: string,
  body: string,
): Promise<string> {
  const outcome: SendSmsOutcome = await sendSms(client, { customerId, body });
  if (outcome.ok) {
    const data: SendSmsResponse = outcome.data;
    return data.status === "sent"
      ? `sent ${data.providerMessageId} (${data.segments} ${data.encoding})`
      : `deferred (${data.reason}) until ${data.scheduledFor}`;
  }
  const code: ErrorCode = outcome.error.code;
  const status: number = outcome.error.status;
  return `${code} ${status}`;
}

/** The live counter under a text box. */
export function counter(body: string): MessageLengthFacts & { withinLimits: boolean } {
  return measureMessage(body);
}

/** The body schema the form validates with (zod's own safeParse): the trimmed body, or null. */
export function validBody(input: unknown): string | null {
  const result = smsMessageSchema.safeParse(input);
  return result.success ? result.data : null;
}

/** Never called: each line is a mistake the types must catch. */
export async function mistakes(client: FunctionsClient, outcome: SendSmsOutcome): Promise<void> {
  // @ts-expect-error -- `data` exists only once `ok` is true
  void outcome.data;
  // @ts-expect-error -- `body` is required
  await sendSms(client, { customerId: "6f1c1a4e-2f40-4a53-9a5e-1b8d2c3f4a5b" });
  // @ts-expect-error -- not an error code of the contract
  if (!outcome.ok && outcome.error.code === "not_a_code") return;
  // @ts-expect-error -- the encoding is "GSM-7" or "UCS-2"
  const encoding: "ASCII" = measureMessage("x").encoding;
  void encoding;
  // @ts-expect-error -- a deferred answer has no providerMessageId
  if (outcome.ok && outcome.data.status === "deferred") void outcome.data.providerMessageId;
}
