import assert from "node:assert/strict";
import {
  findSentMessage,
  matchesTarget,
  reconcileSince,
} from "../../supabase/functions/process-retries/reconcile.ts";
import { type ListedMessage, listedPastSince } from "@shared/twilio/messages.ts";

const target = {
  to: "+12125550101",
  from: "+15005550006",
  messagingServiceSid: null,
  body: "Thanks for visiting – leave a review?",
  since: new Date("2026-07-01T12:00:00Z"),
};

function msg(patch: Partial<ListedMessage> = {}): ListedMessage {
  return {
    sid: "SM" + "0".repeat(32),
    to: target.to,
    from: target.from,
    body: target.body,
    direction: "outbound-api",
    dateCreated: new Date("2026-07-01T12:05:00Z"),
    status: "queued",
    numSegments: "1",
    ...patch,
  };
}

Deno.test("matchesTarget: recipient, sender, text and age must all agree", () => {
  assert.ok(matchesTarget(msg(), target));
  assert.ok(!matchesTarget(msg({ to: "+12125550102" }), target));
  assert.ok(!matchesTarget(msg({ from: "+15005550007" }), target));
  assert.ok(!matchesTarget(msg({ body: "other" }), target));
  assert.ok(!matchesTarget(msg({ direction: "inbound" }), target));
  assert.ok(!matchesTarget(msg({ dateCreated: new Date("2026-07-01T11:59:59Z") }), target));
  // Twilio's Smart Encoding may have replaced the en dash.
  assert.ok(matchesTarget(msg({ body: "Thanks for visiting - leave a review?" }), target));
  // Through a Messaging Service the sender number is Twilio's choice.
  const viaService = { ...target, from: null, messagingServiceSid: "MG1" };
  assert.ok(matchesTarget(msg({ from: "+15005550099", messagingServiceSid: "MG1" }), viaService));
  assert.ok(!matchesTarget(msg({ messagingServiceSid: "MG2" }), viaService));
});

Deno.test("findSentMessage: the oldest match whose sid no other log holds", () => {
  const a = msg({ sid: "SMa", dateCreated: new Date("2026-07-01T12:01:00Z") });
  const b = msg({ sid: "SMb", dateCreated: new Date("2026-07-01T12:02:00Z") });
  const other = msg({ sid: "SMc", body: "different" });
  assert.equal(findSentMessage([b, other, a], target)?.sid, "SMa");
  assert.equal(findSentMessage([b, other, a], target, { takenSids: new Set(["SMa"]) })?.sid, "SMb");
  assert.equal(findSentMessage([other], target), null);
  assert.equal(findSentMessage([], target), null);
});

Deno.test("reconcileSince / listedPastSince: a clock-skew margin, then stop paging", () => {
  const created = new Date("2026-07-01T12:00:00Z");
  const since = reconcileSince(created);
  assert.equal(since.toISOString(), "2026-07-01T11:55:00.000Z");
  assert.ok(listedPastSince(msg({ dateCreated: new Date("2026-07-01T11:00:00Z") }), since));
  assert.ok(!listedPastSince(msg(), since));
  assert.ok(!listedPastSince(undefined, since));
});
