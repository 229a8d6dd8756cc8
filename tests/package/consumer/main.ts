/**
 * Runs the package in Node with a real supabase-js client whose `fetch` is a fake send-sms (no
 * network), and prints one JSON object of results that the test compares with what it expects.
 * Type-checked like a Next.js or Vite app (`moduleResolution: bundler`, DOM lib, skipLibCheck).
 */
import { createClient } from "@supabase/supabase-js";
import { measureMessage, sendSms } from "@sms-foundation/client";
import { counter, describeSend, validBody } from "./contract-use.js";

const CUSTOMER = "6f1c1a4e-2f40-4a53-9a5e-1b8d2c3f4a5b";

interface Call {
  url: string;
  method: string;
  authorization: string | null;
  body: unknown;
}
const calls: Call[] = [];
let answer: () => Response = () => Response.json({}, { status: 500 });

const supabase = createClient("http://127.0.0.1:9", "anon-key", {
  auth: { persistSession: false, autoRefreshToken: false },
  global: {
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      calls.push({
        url: request.url,
        method: request.method,
        authorization: request.headers.get("authorization"),
        body: await request.json(),
      });
      return answer();
    },
  },
});

const facts = (body: string) => {
  const { characters, segments, encoding, nonGsmCharacters, withinLimits } = measureMessage(body);
  return { characters, segments, encoding, nonGsmCharacters, withinLimits };
};

const tooLong = await sendSms(supabase, { customerId: CUSTOMER, body: "x".repeat(400) });
const callsAfterTooLong = calls.length;

answer = () =>
  Response.json({
    status: "sent",
    sendLogId: "11111111-1111-4111-8111-111111111111",
    providerMessageId: "SM0123456789abcdef0123456789abcdef",
    segments: 1,
    encoding: "GSM-7",
  });
const sent = await sendSms(supabase, { customerId: CUSTOMER, body: "  Thanks for visiting!  " });

answer = () =>
  Response.json({
    status: "deferred",
    sendLogId: "22222222-2222-4222-8222-222222222222",
    retryId: "33333333-3333-4333-8333-333333333333",
    reason: "quiet_hours",
    scheduledFor: "2026-01-02T13:00:00.000Z",
  }, { status: 202 });
const deferred = await describeSend(supabase, CUSTOMER, "Hello");

answer = () =>
  Response.json({ error: { code: "opted_out", message: "The customer opted out" } }, {
    status: 409,
  });
const optedOut = await sendSms(supabase, { customerId: CUSTOMER, body: "Hello" });

answer = () => {
  throw new TypeError("fetch failed");
};
const unreachable = await sendSms(supabase, { customerId: CUSTOMER, body: "Hello" });

console.log(JSON.stringify({
  counter: {
    hello: facts("Hello"),
    gsm161: facts("a".repeat(161)),
    ucs2: facts("Café ë"),
    viaContractUse: counter("Hello").segments,
  },
  schema: { trimmed: validBody("  Hi  "), empty: validBody("   "), notString: validBody(42) },
  tooLong,
  callsAfterTooLong,
  sent,
  sentCall: calls[0],
  deferred,
  optedOut,
  unreachable,
  calls: calls.length,
}));
