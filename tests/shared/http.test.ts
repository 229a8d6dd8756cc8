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

Deno.test("readBody joins a body of many chunks, with or without a declared length", async () => {
  // 150,000 bytes in chunks of 1,000 (letters, then two-byte characters at the end):
  // past the 64 KiB the reader starts with when no length is declared.
  const bytes = new TextEncoder().encode("abcdefghij".repeat(14_999) + "ééééé");
  const chunked = () =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 1000) c.enqueue(bytes.slice(i, i + 1000));
        c.close();
      },
    });
  const text = new TextDecoder().decode(bytes);
  assert.equal(await readBody(post(chunked()), { maxBytes: 200_000 }), text);
  const declared = post(chunked(), { "content-length": String(bytes.length) });
  assert.equal(await readBody(declared, { maxBytes: 200_000 }), text);
  // A declared length smaller than the body: the buffer grows rather than losing bytes.
  const under = post(chunked(), { "content-length": "10" });
  assert.equal(await readBody(under, { maxBytes: 200_000 }), text);
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
