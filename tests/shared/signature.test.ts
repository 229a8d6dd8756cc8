import assert from "node:assert/strict";
import querystring from "node:querystring";
import fc from "fast-check";
import twilio from "twilio";
import {
  candidateUrls,
  computeTwilioSignature,
  formParams,
  sha256Hex,
  type SignatureParams,
  timingSafeEqual,
  validateTwilioSignature,
  validateTwilioSignatureWithBody,
  validateTwilioWebhook,
} from "@shared/twilio/signature.ts";

const TOKEN = "12345";
const URL_ = "https://mycompany.com/myapp.php?foo=1&bar=2";
const PARAMS = {
  CallSid: "CA1234567890ABCDE",
  Caller: "+14158675309",
  Digits: "1234",
  From: "+14158675309",
  To: "+18005551212",
};
// The worked example of Twilio's webhook security documentation (and twilio-node's tests).
const DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

function twilioAccepts(token: string, signature: string, url: string, params: object): boolean {
  try {
    return twilio.validateRequest(token, signature, url, params as Record<string, unknown>);
  } catch {
    return false;
  }
}

function twilioAcceptsBody(token: string, signature: string, url: string, body: string): boolean {
  try {
    return twilio.validateRequestWithBody(token, signature, url, body);
  } catch {
    return false;
  }
}

Deno.test("signature: Twilio's documented example", async () => {
  assert.equal(await computeTwilioSignature(TOKEN, { url: URL_, params: PARAMS }), DOC_SIGNATURE);
  assert.equal(twilio.getExpectedTwilioSignature(TOKEN, URL_, PARAMS), DOC_SIGNATURE);
  const ok = { signature: DOC_SIGNATURE, url: URL_, params: PARAMS };
  assert.equal(await validateTwilioSignature(TOKEN, ok), true);
});

Deno.test("signature: tampered URL, parameter, token or header is rejected", async () => {
  const ok = { signature: DOC_SIGNATURE, url: URL_, params: PARAMS };
  assert.equal(await validateTwilioSignature(TOKEN, { ...ok, url: URL_ + "&x=1" }), false);
  assert.equal(
    await validateTwilioSignature(TOKEN, { ...ok, url: URL_.replace("https", "http") }),
    false,
  );
  assert.equal(
    await validateTwilioSignature(TOKEN, { ...ok, params: { ...PARAMS, Digits: "1235" } }),
    false,
  );
  assert.equal(
    await validateTwilioSignature(TOKEN, { ...ok, params: { ...PARAMS, Extra: "" } }),
    false,
  );
  assert.equal(await validateTwilioSignature(TOKEN.replace("1", "2"), ok), false);
  assert.equal(await validateTwilioSignature(TOKEN, { ...ok, signature: null }), false);
  assert.equal(await validateTwilioSignature(TOKEN, { ...ok, signature: "" }), false);
  assert.equal(
    await validateTwilioSignature(TOKEN, { ...ok, signature: DOC_SIGNATURE.slice(0, -1) }),
    false,
  );
  assert.equal(await validateTwilioSignature("", ok), false);
  assert.equal(await validateTwilioSignature(TOKEN, { ...ok, url: "not a url" }), false);
});

Deno.test("signature: port variants — signed with or without the default port", async () => {
  const url = "https://example.com/hook?a=1";
  const withPort = "https://example.com:443/hook?a=1";
  const sigPlain = await computeTwilioSignature(TOKEN, { url: url, params: PARAMS });
  const sigPort = await computeTwilioSignature(TOKEN, { url: withPort, params: PARAMS });
  for (const sig of [sigPlain, sigPort]) {
    for (const target of [url, withPort]) {
      assert.equal(
        await validateTwilioSignature(TOKEN, { signature: sig, url: target, params: PARAMS }),
        true,
      );
      assert.equal(twilioAccepts(TOKEN, sig, target, PARAMS), true);
    }
  }
  // A non-default port is part of the URL and must match.
  const custom = await computeTwilioSignature(TOKEN, {
    url: "https://example.com:8443/hook",
    params: {},
  });
  assert.equal(
    await validateTwilioSignature(TOKEN, { signature: custom, url: "https://example.com/hook" }),
    false,
  );
  assert.deepEqual(candidateUrls("http://h.io/p"), ["http://h.io/p", "http://h.io:80/p"]);
});

Deno.test("signature: legacy query encoding variant", async () => {
  // new URL() keeps "'" and "+" but Node's querystring re-encodes them ("%27", "%20").
  const url = "https://example.com/hook?name=O'Brien&q=a+b&x={y}";
  const legacy = "https://example.com/hook?name=O'Brien&q=a%20b&x=%7By%7D";
  const sig = await computeTwilioSignature(TOKEN, { url: legacy, params: PARAMS });
  assert.equal(twilioAccepts(TOKEN, sig, url, PARAMS), true);
  assert.equal(await validateTwilioSignature(TOKEN, { signature: sig, url, params: PARAMS }), true);
});

Deno.test("signature: repeated parameters are sorted and deduplicated like twilio-node", async () => {
  const params = { Tag: ["b", "a", "b"], Body: "hi" };
  const sig = twilio.getExpectedTwilioSignature(TOKEN, URL_, params);
  assert.equal(await computeTwilioSignature(TOKEN, { url: URL_, params: params }), sig);
  assert.deepEqual(formParams("Tag=b&Tag=a&Body=hi"), { Tag: ["b", "a"], Body: "hi" });
});

Deno.test("signature: JSON body form (bodySHA256)", async () => {
  const body = JSON.stringify({ MessageSid: "SM" + "0".repeat(32), MessageStatus: "delivered" });
  const hash = await sha256Hex(body);
  assert.equal(hash, twilio.getExpectedBodyHash(body));
  const url = `https://example.com/hook?bodySHA256=${hash}`;
  const sig = twilio.getExpectedTwilioSignature(TOKEN, url, {});
  const req = { signature: sig, url, body };
  assert.equal(await validateTwilioSignatureWithBody(TOKEN, req), true);
  assert.equal(await validateTwilioWebhook(TOKEN, req), true);
  assert.equal(
    await validateTwilioSignatureWithBody(TOKEN, { ...req, body: body + " " }),
    false,
  );
  assert.equal(twilioAcceptsBody(TOKEN, sig, url, body + " "), false);
  const other = `https://example.com/hook?bodySHA256=${"0".repeat(64)}`;
  assert.equal(await validateTwilioSignatureWithBody(TOKEN, { ...req, url: other }), false);
});

Deno.test("signature: timingSafeEqual", () => {
  assert.equal(timingSafeEqual("abc", "abc"), true);
  assert.equal(timingSafeEqual("abc", "abd"), false);
  assert.equal(timingSafeEqual("abc", "abcd"), false);
  assert.equal(timingSafeEqual("", ""), true);
  assert.equal(timingSafeEqual("é", "e"), false);
});

// --- property: same decisions as twilio-node -----------------------------------------------

const queryChars = fc.constantFrom(
  "a",
  "b",
  "Z",
  "0",
  "9",
  "-",
  "_",
  ".",
  "~",
  "!",
  "'",
  "(",
  ")",
  "*",
  "+",
  " ",
  "%",
  "%20",
  "%2B",
  "%zz",
  "%e9",
  "%C3%A9",
  "%E2%82",
  "é",
  "€",
  "😀",
  "{",
  "}",
  "|",
  "^",
  "[",
  "]",
  "`",
  '"',
  "<",
  ">",
  "/",
  ":",
  "@",
  ",",
  ";",
  "$",
  "\\",
  "=",
  "&",
  "?",
);
const queryPart = fc.string({ unit: queryChars, maxLength: 6 });
const query = fc.oneof(
  fc.constant(""),
  fc.array(
    fc.tuple(
      fc.oneof(queryPart, fc.constantFrom("1", "2", "10", "bodySHA", "__proto__")),
      queryPart,
    ),
    { maxLength: 4 },
  ).map((pairs) => "?" + pairs.map(([k, v]) => `${k}=${v}`).join("&")),
  fc.string({ unit: queryChars, maxLength: 12 }).map((q) => "?" + q),
);
const url = fc.record({
  scheme: fc.constantFrom("https", "http"),
  userinfo: fc.constantFrom("", "", "", "user@", "user:pw@"),
  host: fc.constantFrom("example.com", "localhost", "127.0.0.1", "sub.Domain.io", "[::1]"),
  port: fc.constantFrom("", "", "", ":80", ":443", ":8080", ":54321"),
  path: fc.array(fc.string({ unit: queryChars, maxLength: 5 }), { maxLength: 3 }),
  query,
  hash: fc.constantFrom("", "", "", "#frag", "#a?b"),
}).map(({ scheme, userinfo, host, port, path, query, hash }) =>
  `${scheme}://${userinfo}${host}${port}/${path.join("/")}${query}${hash}`
);
const paramValue = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: "binary", maxLength: 4 }),
  fc.array(fc.string({ maxLength: 3 }), { minLength: 1, maxLength: 3 }),
);
const params = fc.dictionary(
  fc.oneof(
    fc.constantFrom("Body", "From", "To", "MessageSid", "1", "b"),
    fc.string({ maxLength: 4 }),
  ),
  paramValue,
  { maxKeys: 5 },
);
const token = fc.oneof(
  fc.stringMatching(/^[0-9a-f]{32}$/),
  fc.string({ minLength: 1, maxLength: 40 }),
);

// How the signer may have written the URL: as given, with/without port, legacy query encoding.
function signerForm(u: string, form: number): string {
  try {
    const parsed = new URL(u);
    if (form === 1) {
      parsed.port = "";
      return parsed.toString();
    }
    if (form === 2 && !parsed.port) {
      return u.replace(parsed.host, parsed.host + (parsed.protocol === "https:" ? ":443" : ":80"));
    }
    if (form === 3 && parsed.search) {
      const q = querystring.parse(parsed.search.slice(1));
      parsed.search = "";
      return parsed.toString() + "?" + querystring.stringify(q);
    }
  } catch {
    // Unparseable URLs are signed as they are.
  }
  return u;
}

Deno.test("signature: property — accepts exactly what twilio.validateRequest accepts (1,500 cases)", async () => {
  await fc.assert(
    fc.asyncProperty(
      url,
      params,
      token,
      fc.integer({ min: 0, max: 3 }),
      fc.constantFrom("none", "url", "param", "token", "signature"),
      async (u, p, t, form, tamper) => {
        const signed = twilio.getExpectedTwilioSignature(t, signerForm(u, form), p);
        let checkUrl = u;
        let checkParams: Record<string, unknown> = p;
        let checkToken = t;
        let signature = signed;
        if (tamper === "url") checkUrl = u.replace(/\/(?=[^/]*$)/, "/x");
        if (tamper === "param") checkParams = { ...p, Body: String(p.Body ?? "") + "!" };
        if (tamper === "token") checkToken = t + "x";
        if (tamper === "signature") signature = signed.slice(1) + "A";
        const expected = twilioAccepts(checkToken, signature, checkUrl, checkParams);
        const ours = await validateTwilioSignature(checkToken, {
          signature,
          url: checkUrl,
          params: checkParams as SignatureParams,
        });
        assert.equal(ours, expected, JSON.stringify({ u, form, tamper, p }));
        if (tamper !== "none") assert.equal(ours, false);
      },
    ),
    { numRuns: 1500 },
  );
});

Deno.test("signature: property — JSON body form agrees with validateRequestWithBody (300 cases)", async () => {
  await fc.assert(
    fc.asyncProperty(
      url,
      fc.string({ maxLength: 40 }),
      token,
      fc.boolean(),
      async (u, body, t, tamper) => {
        const base = u.split("#")[0];
        const hash = twilio.getExpectedBodyHash(body);
        const signedUrl = `${base}${base.includes("?") ? "&" : "?"}bodySHA256=${hash}`;
        const sig = twilio.getExpectedTwilioSignature(t, signedUrl, {});
        const checkBody = tamper ? body + "x" : body;
        const expected = twilioAcceptsBody(t, sig, signedUrl, checkBody);
        const ours = await validateTwilioSignatureWithBody(t, {
          signature: sig,
          url: signedUrl,
          body: checkBody,
        });
        assert.equal(ours, expected);
        if (tamper) assert.equal(ours, false);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("signature: property — legacy URL form equals Node's querystring round trip (3,000 cases)", () => {
  fc.assert(
    fc.property(url, (u) => {
      const parsed = new URL(u);
      if (!parsed.search) return;
      parsed.port = "";
      const withoutPort = parsed.toString();
      const legacy = signerForm(withoutPort, 3);
      assert.ok(candidateUrls(u).includes(legacy), JSON.stringify({ u, legacy }));
    }),
    { numRuns: 3000 },
  );
});
