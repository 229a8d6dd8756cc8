/**
 * The generated-types drift check (local/gen-types.ts, run by `npm test`'s static part): the
 * compare step on its own, and the whole check against the test stack's database with a tampered
 * copy of shared/database.types.ts.
 */
import assert from "node:assert/strict";
import { checkTypes, TYPES_FILE, typesDrift } from "@local/gen-types.ts";
import { stack } from "../support/stack.ts";

const FILE = "/repo/shared/database.types.ts";

Deno.test("typesDrift: equal texts pass", () => {
  assert.equal(typesDrift("export type A = 1;\n", "export type A = 1;\n", FILE), null);
});

Deno.test("typesDrift: a changed line fails, names the line and says what to run", () => {
  const generated = "a\nb: string;\nc\n";
  const drift = typesDrift("a\nb: number;\nc\n", generated, FILE);
  assert.ok(drift);
  assert.match(drift, /does not match the migrations/);
  assert.match(drift, /run `npm run gen:types`/);
  assert.match(drift, /first difference at line 2/);
  assert.match(drift, /checked in:\n {4}b: number;/);
  assert.match(drift, /generated from the migrations:\n {4}b: string;/);
});

Deno.test("typesDrift: a missing file or a missing tail fails", () => {
  assert.match(typesDrift(null, "a\n", FILE) ?? "", /is missing: run `npm run gen:types`/);
  const drift = typesDrift("a\n", "a\nb\n", FILE) ?? "";
  assert.match(drift, /first difference at line 2/);
  assert.match(drift, /checked in:\n {4}\n/);
});

Deno.test("checkTypes: the checked-in file matches, a tampered copy does not", async () => {
  const { dbUrl } = stack();
  const original = await Deno.readTextFile(TYPES_FILE);
  const dir = await Deno.makeTempDir({ prefix: "gen-types-test-" });
  try {
    const tampered = `${dir}/database.types.ts`;
    // One column's type changed by hand, as if someone edited the file.
    const edited = original.replace(": string;", ": number;");
    assert.notEqual(edited, original);
    await Deno.writeTextFile(tampered, edited);
    const drift = await checkTypes(dbUrl, tampered);
    assert.ok(drift, "a tampered file must fail the check");
    assert.match(drift, /run `npm run gen:types`/);
    assert.match(drift, /checked in:\n.*: number;/);
    assert.equal(await checkTypes(dbUrl, TYPES_FILE), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
