/**
 * sms.measure_sms, which a campaign's plan uses for every recipient, against shared/text/segments.ts
 * on a seeded random corpus: every GSM-7 character (basic and extension, the regular expression's
 * special ones among them), characters outside it, and characters of two UTF-16 units. The
 * encoding must agree; the segments too, or be one less where a character of two septets or two
 * units straddles a segment boundary (segments.ts moves it whole; the SQL counts units).
 */
import assert from "node:assert/strict";
import { db } from "../support/stack.ts";
import { analyzeSegments } from "@shared/text/segments.ts";
import { prng } from "../../bench/lib/stats.ts";

const GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡" +
  "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION = "\f^{}\\[~]|€";
const OTHERS = ["ç", "ê", "`", "…", "\u2019", "–", "\u00a0", "\t", "😀", "👍", "中"];

Deno.test("sms.measure_sms agrees with segments.ts on encoding and segments", async () => {
  const random = prng(20261205);
  const gsm = [...GSM_BASIC, ...GSM_EXTENSION];
  const all = [...gsm, ...OTHERS];
  const bodies: string[] = ["", "^", "\\", "]", "[", "-", "\f", "€", "a-z", "ç", "😀"];
  for (let i = 0; i < 3000; i++) {
    // Half of them GSM-7 only, so that the GSM side gets long bodies too.
    const pool = i % 2 === 0 ? gsm : all;
    const length = Math.floor(random() * 400);
    let body = "";
    for (let k = 0; k < length; k++) body += pool[Math.floor(random() * pool.length)];
    bodies.push(body);
  }
  const sql = db(1);
  try {
    const rows = await sql<{ i: number; encoding: string; segments: number }[]>`
      select (b.i - 1)::int as i, m.encoding, m.segments
        from unnest(${bodies}::text[]) with ordinality as b (body, i)
        cross join lateral sms.measure_sms(b.body) m
       order by b.i`;
    assert.equal(rows.length, bodies.length);
    let gsmBodies = 0;
    for (const r of rows) {
      const body = bodies[r.i];
      const expected = analyzeSegments(body);
      if (expected.encoding === "GSM-7") gsmBodies++;
      assert.equal(r.encoding, expected.encoding, `encoding of ${JSON.stringify(body)}`);
      assert.ok(
        r.segments === expected.segments ||
          (expected.segments > 1 && r.segments === expected.segments - 1),
        `segments of ${JSON.stringify(body)}: ${r.segments}, segments.ts ${expected.segments}`,
      );
    }
    // Both encodings were exercised.
    assert.ok(gsmBodies > 1000 && gsmBodies < rows.length - 1000, `GSM-7 bodies: ${gsmBodies}`);
  } finally {
    await sql.end();
  }
});
