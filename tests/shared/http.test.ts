import assert from "node:assert/strict";
import { isSmsError } from "@shared/contract/errors.ts";
import { jsonResponse, mediaType, parseJson, readBody } from "@shared/runtime/http.ts";

const post = (body: BodyInit | null, headers: HeadersInit = {}) =>
  new Request("http://x/", { method: "POST", body, headers });

const invalid = (e: unknown) => isSmsError(e) && e.code === "invalid_request";

Deno.test("readBody returns UTF-8 text within the limit", async () => {
  assert.equal(await readBody(post("héllo"), { maxBytes: 16 }), "héllo");
  assert.equal(await readBody(post(null), { maxBytes: 16 }), "");
});

Deno.test("readBody refuses oversized bodies, declared or streamed", async () => {
  await assert.rejects(readBody(post("x".repeat(17)), { maxBytes: 16 }), invalid);
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new Uint8Array(1024));
    },
  });
  await assert.rejects(readBody(post(stream), { maxBytes: 4096 }), invalid);
});

Deno.test("readBody refuses invalid UTF-8; parseJson refuses non-JSON", async () => {
  await assert.rejects(
    readBody(post(new Uint8Array([0xff, 0xfe, 0x41])), { maxBytes: 16 }),
    invalid,
  );
  assert.throws(() => parseJson("{"), invalid);
  assert.deepEqual(parseJson('{"a":1}'), { a: 1 });
});

Deno.test("jsonResponse sets JSON and CORS headers; mediaType drops parameters", async () => {
  const res = jsonResponse(202, { ok: true });
  assert.equal(res.status, 202);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.deepEqual(await res.json(), { ok: true });
  assert.equal(
    mediaType(post("", { "content-type": "Application/X-WWW-Form-URLencoded; charset=utf-8" })),
    "application/x-www-form-urlencoded",
  );
});
