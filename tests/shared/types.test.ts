import assert from "node:assert/strict";
import {
  canAdvanceStatus,
  MESSAGE_STATUS_RANK,
  MESSAGE_STATUSES,
  SMS_SEND_LOG_STATUSES,
} from "@shared/types.ts";

Deno.test("types: statuses only move forward", () => {
  assert.equal(canAdvanceStatus(null, "queued"), true);
  assert.equal(canAdvanceStatus("queued", "sent"), true);
  assert.equal(canAdvanceStatus("sent", "delivered"), true);
  assert.equal(canAdvanceStatus("delivered", "sent"), false);
  assert.equal(canAdvanceStatus("sent", "sent"), false);
  assert.equal(canAdvanceStatus("delivered", "undelivered"), false);
  assert.equal(canAdvanceStatus("failed", "delivered"), false);
  assert.equal(canAdvanceStatus("accepted", "queued"), true);
  assert.equal(canAdvanceStatus("deferred", "queued"), true);
  assert.equal(canAdvanceStatus("queued", "deferred"), false);
  assert.equal(canAdvanceStatus("delivered", "read"), true);
  for (const s of [...MESSAGE_STATUSES, ...SMS_SEND_LOG_STATUSES]) {
    assert.equal(typeof MESSAGE_STATUS_RANK[s], "number", s);
  }
});
