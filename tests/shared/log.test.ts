import assert from "node:assert/strict";
import { createLogger } from "@shared/runtime/log.ts";

Deno.test("log lines carry the request id and drop secret-bearing fields", () => {
  const lines: string[] = [];
  const log = createLogger("send-sms", { requestId: "req-1", sink: (l) => lines.push(l) });
  log.info("sent", {
    sendLogId: "abc",
    body: "my secret message",
    authToken: "tok",
    Authorization: "Bearer x",
    signature: "sig",
  });
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]);
  assert.equal(entry.requestId, "req-1");
  assert.equal(entry.fn, "send-sms");
  assert.equal(entry.event, "sent");
  assert.equal(entry.sendLogId, "abc");
  for (const secret of ["my secret message", "tok", "Bearer x", "sig"]) {
    assert.ok(!lines[0].includes(secret), `${secret} is not logged`);
  }
});

Deno.test("errors are logged by name and code only", () => {
  const lines: string[] = [];
  const log = createLogger("x", { sink: (l) => lines.push(l) });
  const err = Object.assign(new Error("body was: hello there"), { code: "internal" });
  log.error("failed", { error: err });
  assert.deepEqual(JSON.parse(lines[0]).error, { name: "Error", code: "internal" });
  assert.ok(!lines[0].includes("hello there"));
});

Deno.test("a log line never throws: unserializable fields and a broken sink", () => {
  const lines: string[] = [];
  const log = createLogger("campaigns", { requestId: "r", sink: (l) => lines.push(l) });
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  log.info("campaign_created", { eligible: 10n });
  log.info("campaign_created", { cycle });
  assert.deepEqual(lines.map((l) => JSON.parse(l)).map((e) => [e.event, e.fields]), [
    ["campaign_created", "unserializable"],
    ["campaign_created", "unserializable"],
  ]);
  // stdout closed under the process (Deno throws BrokenPipe from console.log).
  const broken = createLogger("campaigns", {
    sink: () => {
      throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
    },
  });
  broken.info("campaign_created", { eligible: 1 });
  broken.error("failed", { error: new Error("x") });
});
