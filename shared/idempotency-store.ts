/**
 * Idempotency keys (`sms.idempotency_keys`): one namespace per business, shared by send-sms and
 * the campaigns function, each key holding the hash of the first request and the answer it got.
 *
 * @module
 */
import { SmsError } from "./contract/errors.ts";
import type { Db, RpcRow } from "./runtime/db.ts";
import { sha256Hex } from "./twilio/signature.ts";

/** A request's key. */
export interface IdempotencyKey {
  businessId: string;
  key: string;
  /** Hash of what the request asks for: the same key with another request is refused. */
  hash: string;
  userId: string;
}

/** A stored or fresh answer. */
export interface Answer {
  status: number;
  body: unknown;
}

/** The hash stored with a key: SHA-256 of the request's parts as JSON. */
export async function requestHash(parts: unknown): Promise<string> {
  return await sha256Hex(JSON.stringify(parts));
}

/**
 * Claims the key for this request, or reads who holds it and the answer stored under it. Inside
 * a transaction, a duplicate waits on the first claim's row until that transaction ends.
 */
export async function claimKey(db: Db, key: IdempotencyKey) {
  const [row] = await db<
    RpcRow<"sms", "claim_idempotency_key", {
      request_hash: string | null;
      response_status: number | null;
      response_body: unknown;
    }>[]
  >`select * from sms.claim_idempotency_key(
        ${key.businessId}::uuid, ${key.key}, ${key.hash}, ${key.userId}::uuid)`;
  return row;
}

/**
 * What a claim found: `null` when this request now holds the key, the first request's answer when
 * it has one, `"in_progress"` while it has none yet. The key under another request is refused.
 */
export function claimOutcome(
  row: Awaited<ReturnType<typeof claimKey>>,
  key: IdempotencyKey,
): Answer | "in_progress" | null {
  if (row.claimed) return null;
  if (row.request_hash !== key.hash) {
    throw new SmsError(
      "idempotency_conflict",
      "This idempotency key was already used for a different request",
    );
  }
  if (row.state === "completed" && row.response_status !== null) {
    return { status: row.response_status, body: row.response_body };
  }
  return "in_progress";
}

/** Stores the first answer under a claimed key (no-op without a key). */
export async function completeIdempotencyKey(
  db: Db,
  key: IdempotencyKey | null,
  answer: Answer,
  logId?: string,
) {
  if (!key) return;
  await db`select sms.complete_idempotency_key(
    ${key.businessId}::uuid, ${key.key}, ${answer.status}::integer,
    ${db.json(answer.body as never)}, ${logId ?? null}::uuid)`;
}
