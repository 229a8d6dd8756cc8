import assert from "node:assert/strict";
import { hostileObjects } from "../support/hostile.ts";
import fc from "fast-check";
import { countSegments } from "@shared/text/segments.ts";
import {
  parseInboundMessage,
  parseStatusCallback,
  parseTwilioWebhook,
  type TwilioStatusCallback,
} from "../../supabase/functions/twilio-webhook/params.ts";
import {
  decideInbound,
  escapeXml,
  hasBodyHash,
  isOurSender,
  maskPhone,
  paramsFromJson,
  publicWebhookUrl,
  statusEventArgs,
  twilioDefaultKeyword,
  twiml,
  webhookConfigFromEnv,
} from "../../supabase/functions/twilio-webhook/webhook.ts";
import {
  fitsOneSegment,
  helpReply,
  optInConfirmation,
  optOutConfirmation,
  replyText,
} from "../../supabase/functions/twilio-webhook/replies.ts";

const SID = "SM" + "a".repeat(32);
const AC = "AC" + "b".repeat(32);

Deno.test("webhookConfigFromEnv needs the auth token and a valid public URL", () => {
  const url = "https://x.supabase.co/functions/v1/twilio-webhook";
  assert.equal(webhookConfigFromEnv({}), null);
  assert.equal(webhookConfigFromEnv({ TWILIO_AUTH_TOKEN: "t" }), null);
  assert.equal(webhookConfigFromEnv({ TWILIO_WEBHOOK_URL: url }), null);
  assert.equal(webhookConfigFromEnv({ TWILIO_AUTH_TOKEN: " ", TWILIO_WEBHOOK_URL: url }), null);
  assert.equal(webhookConfigFromEnv({ TWILIO_AUTH_TOKEN: "t", TWILIO_WEBHOOK_URL: "nope" }), null);
  assert.deepEqual(
    webhookConfigFromEnv({
      TWILIO_AUTH_TOKEN: "t",
      TWILIO_WEBHOOK_URL: url,
      TWILIO_PHONE_NUMBER: "+15005550006",
    }),
    {
      authToken: "t",
      webhookUrl: url,
      accountSid: null,
      phoneNumber: "+15005550006",
      messagingServiceSid: null,
      twilioOptOutHandling: true,
      optOutConfirmationWindowHours: 24,
    },
  );
  const base = { TWILIO_AUTH_TOKEN: "t", TWILIO_WEBHOOK_URL: url };
  const cfg = (extra: Record<string, string>) => webhookConfigFromEnv({ ...base, ...extra })!;
  assert.equal(cfg({ TWILIO_OPT_OUT_HANDLING: "off" }).twilioOptOutHandling, false);
  assert.equal(cfg({ TWILIO_OPT_OUT_HANDLING: " OFF " }).twilioOptOutHandling, false);
  assert.equal(cfg({ TWILIO_OPT_OUT_HANDLING: "false" }).twilioOptOutHandling, false);
  assert.equal(cfg({ TWILIO_OPT_OUT_HANDLING: "on" }).twilioOptOutHandling, true);
  assert.equal(cfg({ TWILIO_OPT_OUT_HANDLING: "maybe" }).twilioOptOutHandling, true, "default");
  assert.equal(
    cfg({ SMS_OPT_OUT_CONFIRMATION_WINDOW_HOURS: "0" }).optOutConfirmationWindowHours,
    0,
  );
  assert.equal(
    cfg({ SMS_OPT_OUT_CONFIRMATION_WINDOW_HOURS: "72" }).optOutConfirmationWindowHours,
    72,
  );
  assert.equal(
    cfg({ SMS_OPT_OUT_CONFIRMATION_WINDOW_HOURS: "-1" }).optOutConfirmationWindowHours,
    24,
  );
  assert.equal(
    cfg({ SMS_OPT_OUT_CONFIRMATION_WINDOW_HOURS: "x" }).optOutConfirmationWindowHours,
    24,
  );
});

Deno.test("twilioDefaultKeyword: Twilio's default keywords, whole message only", () => {
  for (const w of ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT", "OPTOUT", "revoke"]) {
    assert.equal(twilioDefaultKeyword(w), "opt_out", w);
  }
  for (const w of ["START", "yes", "Unstop"]) assert.equal(twilioDefaultKeyword(w), "opt_in", w);
  for (const w of ["HELP", "info", " Help! "]) assert.equal(twilioDefaultKeyword(w), "help", w);
  for (const w of ["stop texting me", "please stop", "help me", "", "STOP ALL", "alto"]) {
    assert.equal(twilioDefaultKeyword(w), null, w);
  }
  // With Twilio's handling on, its keywords count as answered by Twilio; phrases stay ours.
  const on = { twilioOptOutHandling: true };
  assert.equal(decideInbound({ Body: "START" }, on).twilioHandled, true);
  assert.equal(decideInbound({ Body: "info" }, on).twilioHandled, true);
  assert.equal(decideInbound({ Body: "STOP" }, on).twilioHandled, true);
  assert.equal(decideInbound({ Body: "please stop texting me" }, on).twilioHandled, false);
  assert.equal(decideInbound({ Body: "START" }).twilioHandled, false, "off: ours to answer");
});

Deno.test("publicWebhookUrl: the configured URL with the request's query, never the request's host", () => {
  const pub = "https://abc.supabase.co/functions/v1/twilio-webhook";
  assert.equal(publicWebhookUrl(pub, "http://127.0.0.1:9000/twilio-webhook"), pub);
  assert.equal(
    publicWebhookUrl(pub, "http://127.0.0.1:9000/twilio-webhook?bodySHA256=abc"),
    pub + "?bodySHA256=abc",
  );
  // A configured query is replaced by the one Twilio actually called (which includes it).
  assert.equal(
    publicWebhookUrl(pub + "?tenant=1", "http://internal/twilio-webhook?tenant=1&bodySHA256=f"),
    pub + "?tenant=1&bodySHA256=f",
  );
  assert.equal(publicWebhookUrl(pub + "#frag", "http://internal/x#y"), pub);
  // The configured text is kept verbatim (explicit port, case).
  assert.equal(
    publicWebhookUrl("https://Example.com:443/hook", "http://internal/hook?a=1"),
    "https://Example.com:443/hook?a=1",
  );
});

Deno.test("hasBodyHash looks at the query parameter only", () => {
  assert.equal(hasBodyHash("https://x/hook?bodySHA256=00"), true);
  assert.equal(hasBodyHash("https://x/hook/bodySHA256"), false);
  assert.equal(hasBodyHash("https://x/hook"), false);
  assert.equal(hasBodyHash("not a url"), false);
});

Deno.test("paramsFromJson turns numbers and booleans into text and drops nulls", () => {
  assert.deepEqual(paramsFromJson({ ErrorCode: 30007, A: "x", B: null, C: true }), {
    ErrorCode: "30007",
    A: "x",
    C: "true",
  });
  assert.equal(paramsFromJson([]), null);
  assert.equal(paramsFromJson("x"), null);
  assert.equal(paramsFromJson(null), null);
});

async function statusCallback(extra: Record<string, string> = {}): Promise<TwilioStatusCallback> {
  const parsed = await parseTwilioWebhook({
    MessageSid: SID,
    MessageStatus: "undelivered",
    AccountSid: AC,
    From: "+15005550006",
    To: "+12125550101",
    ...extra,
  });
  assert.ok(parsed.ok && parsed.data.kind === "status");
  return parsed.data.data as TwilioStatusCallback;
}

Deno.test("params: Twilio status callback and inbound message", async () => {
  const status = {
    MessageSid: SID,
    SmsSid: SID,
    AccountSid: AC,
    MessageStatus: "undelivered",
    ErrorCode: "30003",
    To: "+14155552671",
    From: "+15005550006",
    ApiVersion: "2010-04-01",
  };
  const parsed = parseStatusCallback(status);
  assert.equal(parsed.ok && parsed.data.ErrorCode, 30003);
  assert.equal(parsed.ok && parsed.data.ApiVersion, "2010-04-01");
  const emptyCode = parseStatusCallback({ ...status, ErrorCode: "" });
  assert.equal(emptyCode.ok && emptyCode.data.ErrorCode, undefined);
  assert.equal(
    parseStatusCallback({ ...status, MessageStatus: "lost" }).ok,
    false,
  );
  assert.equal(parseStatusCallback({ ...status, MessageSid: "SM1" }).ok, false);

  const inbound = {
    MessageSid: SID,
    AccountSid: AC,
    From: "+14155552671",
    To: "+15005550006",
    Body: "STOP",
    NumMedia: "0",
    SmsStatus: "received",
    OptOutType: "STOP",
  };
  const parsedInbound = parseInboundMessage(inbound);
  assert.equal(parsedInbound.ok && parsedInbound.data.NumMedia, 0);

  const asStatus = await parseTwilioWebhook(new URLSearchParams(status));
  assert.equal(asStatus.ok && asStatus.data.kind, "status");
  const asInbound = await parseTwilioWebhook(new URLSearchParams(inbound));
  assert.equal(asInbound.ok && asInbound.data.kind, "inbound");
  const noStatus = { ...inbound } as Record<string, string>;
  delete noStatus.SmsStatus;
  assert.equal((await parseTwilioWebhook(noStatus)).ok && "inbound", "inbound");
  const missing = await parseTwilioWebhook({ Body: "hi" });
  assert.equal(missing.ok, false);
  assert.equal((await parseTwilioWebhook(null)).ok, false);
});

Deno.test("params: an inbound message's From and To are read as phone numbers", async () => {
  const inbound = (From: string, To = "+15005550006") => ({
    MessageSid: SID,
    AccountSid: AC,
    From,
    To,
    Body: "STOP",
    SmsStatus: "received",
  });
  const ok = await parseTwilioWebhook(inbound("+33612345678"));
  assert.ok(ok.ok && ok.data.kind === "inbound");
  assert.deepEqual(ok.data.numbers, {
    from: { e164: "+33612345678", country: "FR", type: "mobile", valid: true },
    to: { e164: "+15005550006", country: "US", type: "personal_number", valid: true },
  });
  // A range the metadata does not have (area code 555) is still a number: a STOP from it counts.
  const unknownRange = await parseTwilioWebhook(inbound("+15557654321"));
  assert.ok(unknownRange.ok && unknownRange.data.kind === "inbound");
  assert.deepEqual(unknownRange.data.numbers.from, {
    e164: "+15557654321",
    country: null,
    type: null,
    valid: false,
  });
  for (
    const [from, to, fields] of [
      ["+99912345678", "+15005550006", ["From"]],
      ["+331234567", "+15005550006", ["From"]],
      ["alice", "+15005550006", ["From"]],
      ["+14155552671", "12125550101", ["To"]],
      ["whatsapp:+14155552671", "+", ["From", "To"]],
    ] as const
  ) {
    const r = await parseTwilioWebhook(inbound(from, to));
    assert.equal(r.ok, false, from);
    if (!r.ok) {
      assert.equal(r.code, "invalid_request");
      assert.deepEqual(Object.keys(r.fieldErrors), fields, from);
    }
  }
  // Status callbacks carry From/To too, and do not need them.
  const status = await parseTwilioWebhook({
    MessageSid: SID,
    AccountSid: AC,
    MessageStatus: "sent",
    From: "+99912345678",
    To: "x",
  });
  assert.equal(status.ok && status.data.kind, "status");
});

Deno.test("params: property — no input makes the webhook parser throw or reject (4,000 cases)", async () => {
  const nasty = fc.oneof(
    fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true }),
    fc.dictionary(
      fc.constantFrom("MessageSid", "AccountSid", "MessageStatus", "ErrorCode", "Body", "From"),
      fc.oneof(fc.string(), fc.anything()),
    ),
    fc.record({
      MessageSid: fc.constant(SID),
      AccountSid: fc.constant(AC),
      SmsStatus: fc.constant("received"),
      Body: fc.string(),
      From: fc.oneof(fc.string(), fc.stringMatching(/^\+\d{0,17}$/)),
      To: fc.oneof(fc.string(), fc.stringMatching(/^\+\d{0,17}$/)),
    }),
  );
  await fc.assert(
    fc.asyncProperty(nasty, async (input) => {
      for (const parse of [parseStatusCallback, parseInboundMessage]) {
        assert.equal(typeof parse(input).ok, "boolean");
      }
      assert.equal(typeof (await parseTwilioWebhook(input)).ok, "boolean");
    }),
    { numRuns: 4000 },
  );
});

Deno.test("params: hostile objects do not throw either", async () => {
  for (const input of hostileObjects()) {
    assert.equal((await parseTwilioWebhook(input)).ok, false);
  }
});

Deno.test("statusEventArgs keeps identifiers and the token, never the phone numbers", async () => {
  const args = statusEventArgs(
    await statusCallback({
      ErrorCode: "30007",
      ErrorMessage: " filtered ",
      RawDlrDoneDate: "2611261200",
    }),
    { idempotencyToken: "tok-1" },
  );
  assert.deepEqual(args, {
    messageSid: SID,
    status: "undelivered",
    errorCode: 30007,
    errorMessage: "filtered",
    payload: { AccountSid: AC, RawDlrDoneDate: "2611261200", IdempotencyToken: "tok-1" },
  });
  assert.ok(!JSON.stringify(args.payload).includes("+1212"));
  const plain = statusEventArgs(await statusCallback({ ErrorCode: "" }));
  assert.equal(plain.errorCode, null);
  assert.equal(plain.errorMessage, null);
  assert.equal(plain.payload.IdempotencyToken, undefined);
});

Deno.test("decideInbound: the common classifier, FCC phrases included, and Twilio's OptOutType", () => {
  const d = (Body: string, OptOutType?: "STOP" | "START" | "HELP") =>
    decideInbound({ Body, OptOutType });
  assert.deepEqual(d("STOP"), {
    kind: "opt_out",
    keyword: "stop",
    via: "exact",
    twilioHandled: false,
  });
  assert.deepEqual(d("Please stop texting me"), {
    kind: "opt_out",
    keyword: "stop",
    via: "contains",
    twilioHandled: false,
  });
  assert.equal(d("leave me alone").kind, "opt_out");
  assert.equal(d("START").kind, "opt_in");
  assert.equal(d("help").kind, "help");
  assert.equal(d("What time do you open?").kind, "other");
  assert.equal(d("What time do you open?").keyword, null);
  // Twilio answered the keyword itself.
  assert.deepEqual(d("STOP", "STOP"), {
    kind: "opt_out",
    keyword: "stop",
    via: "exact",
    twilioHandled: true,
  });
  // A custom Twilio keyword we do not know is still honoured.
  assert.deepEqual(d("OPTOUTALL", "STOP"), {
    kind: "opt_out",
    keyword: "stop",
    via: "twilio",
    twilioHandled: true,
  });
  // AWS's French ARRET is one of ours now: our match is kept, Twilio's handling noted.
  assert.deepEqual(d("ARRET", "STOP"), {
    kind: "opt_out",
    keyword: "arret",
    via: "exact",
    twilioHandled: true,
  });
  // Revocation by any reasonable means: misspellings, sentences, Spanish and French.
  assert.deepEqual(d("STPO"), {
    kind: "opt_out",
    keyword: "stop",
    via: "fuzzy",
    twilioHandled: false,
  });
  assert.equal(d("please don't message me again").via, "contains");
  assert.equal(d("take me off your list").kind, "opt_out");
  assert.equal(d("PARAR").kind, "opt_out");
  assert.equal(d("Désabonner").kind, "opt_out");
  assert.equal(d("see you at the end of the week").kind, "other");
  // Twilio's own START on a reply we read as a revocation: the revocation wins.
  assert.equal(d("stpo", "START").kind, "opt_out");
  assert.equal(d("AIDE", "HELP").kind, "help");
  // An opt-out on our side wins over anything Twilio says.
  assert.equal(d("stop it", "HELP").kind, "opt_out");
});

Deno.test("isOurSender: the configured number or messaging service", () => {
  const msg = (To: string, MessagingServiceSid?: string) => ({ To, MessagingServiceSid });
  const MG = "MG" + "c".repeat(32);
  const num = { phoneNumber: "+15005550006", messagingServiceSid: null };
  assert.equal(isOurSender(num, msg("+15005550006")), true);
  assert.equal(isOurSender(num, msg("+15005550007")), false);
  const svc = { phoneNumber: null, messagingServiceSid: MG };
  assert.equal(isOurSender(svc, msg("+15005550007", MG)), true);
  assert.equal(isOurSender(svc, msg("+15005550007")), false);
  assert.equal(isOurSender({ phoneNumber: null, messagingServiceSid: null }, msg("+1")), true);
});

Deno.test("escapeXml and twiml", () => {
  assert.equal(
    escapeXml(`<a href="x">Tom & Jerry's</a>`),
    "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;",
  );
  assert.equal(escapeXml("a\u0000b\u0007c\td\ne"), "abc\td\ne");
  assert.equal(escapeXml("x\ud800y 😀"), "xy 😀");
  assert.equal(twiml(), '<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
  assert.equal(twiml(""), '<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
  assert.equal(
    twiml("A & B <ok>"),
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>A &amp; B &lt;ok&gt;</Message></Response>',
  );
  // Whatever the text, the answer is well-formed: one Message element, nothing injected.
  fc.assert(fc.property(fc.string({ unit: "binary" }), (text) => {
    const xml = twiml(text);
    const inner = xml.replace(/^<\?xml[^>]*\?><Response>(<Message>)?/, "").replace(
      /(<\/Message>)?<\/Response>$/,
      "",
    );
    assert.ok(!/[<>]/.test(inner), xml);
    assert.ok(!/&(?!(amp|lt|gt|quot|apos);)/.test(inner), xml);
  }));
});

Deno.test("maskPhone keeps only the prefix and the last two digits", () => {
  assert.equal(maskPhone("+12125550101"), "+12*******01");
  assert.equal(maskPhone(""), "");
  assert.equal(maskPhone(undefined), "");
  assert.equal(maskPhone("12345"), "*****");
});

const ACME = { name: "Acme Plumbing", helpContact: "help@acme.test" };
const BAY = { name: "Bay Dental", helpContact: null };

Deno.test("replies: one segment, the business named, the way out stated", () => {
  const stop = optOutConfirmation([ACME]);
  assert.equal(
    stop,
    "Acme Plumbing: You are unsubscribed and will get no more texts from this number. Reply START to resubscribe.",
  );
  assert.match(optOutConfirmation([ACME, BAY]), /^Acme Plumbing, Bay Dental: You are unsubscribed/);
  assert.match(optOutConfirmation([]), /^You are unsubscribed/);
  assert.match(
    optInConfirmation([ACME]),
    /^Acme Plumbing: You are resubscribed.*STOP to opt out\.$/,
  );
  assert.equal(
    helpReply([ACME]),
    "Acme Plumbing: For help contact help@acme.test. Msg&data rates may apply. Reply STOP to opt out.",
  );
  assert.equal(
    helpReply([BAY]),
    "Bay Dental: For help reply to this message. Msg&data rates may apply. Reply STOP to opt out.",
  );
  // With several businesses no single contact is named.
  // With several businesses each is named with its contact (CTIA: HELP always carries one).
  assert.equal(
    helpReply([ACME, BAY]),
    "For help contact Acme Plumbing: help@acme.test. Msg&data rates may apply. Reply STOP to opt out.",
  );
  assert.equal(
    helpReply([ACME, { name: "Bay Dental", helpContact: "(415) 555-0100" }]),
    "For help contact Acme Plumbing: help@acme.test; Bay Dental: (415) 555-0100. Msg&data rates may apply. Reply STOP to opt out.",
  );
  // Too long together: the first (the one that texted last) with its own contact.
  const longA = { name: "A".repeat(60), helpContact: "https://" + "a".repeat(40) + ".com/h" };
  const longB = { name: "B".repeat(60), helpContact: "+1 212 555 0100" };
  assert.equal(
    helpReply([longA, longB]),
    `${"A".repeat(60)}: Help: ${longA.helpContact}. Reply STOP to opt out.`,
  );
  assert.match(helpReply([]), /^For help reply to this message.*Reply STOP to opt out\.$/);
});

Deno.test("replies shrink to one segment whatever the names", () => {
  const long = { name: "B".repeat(60), helpContact: "C".repeat(60) };
  const many = Array.from({ length: 8 }, (_, i) => ({ name: `Business number ${i}` }));
  const accented = { name: "Café Lumière Éclat", helpContact: "☎ 555-0100" };
  for (const list of [[long], many, [accented], [long, accented]]) {
    for (const text of [optOutConfirmation(list), optInConfirmation(list), helpReply(list)]) {
      assert.equal(countSegments(text), 1, text);
    }
  }
  assert.match(optOutConfirmation(many), /^Business number 0: You are unsubscribed/);
  assert.match(helpReply([accented]), /Café Lumière Éclat: Help: ☎ 555-0100\. Reply STOP/);
  fc.assert(fc.property(
    fc.array(fc.record({ name: fc.string(), helpContact: fc.option(fc.string()) }), {
      maxLength: 5,
    }),
    (list) => {
      for (const text of [optOutConfirmation(list), optInConfirmation(list), helpReply(list)]) {
        assert.ok(fitsOneSegment(text), text);
        assert.ok(/STOP|START/.test(text));
        // deno-lint-ignore no-control-regex
        assert.ok(!/[\u0000-\u001f]/.test(text));
      }
    },
  ));
});

Deno.test("replyText: nothing for free text or when Twilio already answered", () => {
  assert.equal(replyText("other", { businesses: [ACME] }), null);
  assert.equal(replyText("opt_out", { businesses: [ACME], twilioHandled: true }), null);
  assert.equal(replyText("help", { businesses: [ACME], twilioHandled: true }), null);
  assert.equal(replyText("opt_out", { businesses: [ACME] }), optOutConfirmation([ACME]));
  assert.equal(replyText("opt_in", { businesses: [ACME] }), optInConfirmation([ACME]));
  assert.equal(replyText("help", { businesses: [ACME] }), helpReply([ACME]));
});
