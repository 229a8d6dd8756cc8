/**
 * A kept database built from migrations this checkout no longer has (they are edited in place
 * until the first release) stops `npm start` with what to do, not the CLI's repair advice.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { startDatabase } from "@local/stack.ts";
import { freePort } from "@local/ports.ts";

Deno.test("a kept database with migrations this checkout lacks: delete the state folder", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "sms-stale-" });
  const port = freePort();
  const log = () => {};
  try {
    const first = await startDatabase({ stateDir, port, ephemeral: true, log });
    const sql = postgres(first.adminUrl, { max: 1, onnotice: () => {} });
    try {
      await sql`insert into supabase_migrations.schema_migrations (version, name)
                values ('20200101000000', 'gone')`;
    } finally {
      await sql.end();
      await first.stop();
    }
    await assert.rejects(
      () => startDatabase({ stateDir, port, ephemeral: true, log }),
      (e: Error) => {
        assert.match(e.message, /built from migrations this checkout no longer has/);
        assert.ok(e.message.includes(stateDir), e.message);
        return true;
      },
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a kept database built from an earlier version of a migration: delete the state folder", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "sms-stale-" });
  const port = freePort();
  const log = () => {};
  try {
    const first = await startDatabase({ stateDir, port, ephemeral: true, log });
    await first.stop();
    const recordPath = `${stateDir}/migrations.json`;
    const record: Record<string, string> = JSON.parse(await Deno.readTextFile(recordPath));
    const [edited] = Object.keys(record).sort();
    assert.match(record[edited], /^[0-9a-f]{64}$/);
    // As if this migration had been edited in place since the database was built.
    record[edited] = "0".repeat(64);
    await Deno.writeTextFile(recordPath, JSON.stringify(record));
    await assert.rejects(
      () => startDatabase({ stateDir, port, ephemeral: true, log }),
      (e: Error) => {
        assert.match(e.message, /built from an earlier version of/);
        assert.ok(e.message.includes(edited), e.message);
        assert.ok(e.message.includes(stateDir), e.message);
        return true;
      },
    );
    // Unchanged files (and a record of a file this checkout does not have) start as before.
    delete record[edited];
    record["20200101000000_gone.sql"] = "0".repeat(64);
    await Deno.writeTextFile(recordPath, JSON.stringify(record));
    const again = await startDatabase({ stateDir, port, ephemeral: true, log });
    await again.stop();
  } finally {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
});
