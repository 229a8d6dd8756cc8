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
