import assert from "node:assert/strict";
import { asUser, createDb, dbUrlFromEnv, params } from "@shared/runtime/db.ts";
import { stack } from "../support/stack.ts";

Deno.test("dbUrlFromEnv prefers SMS_DB_URL over SUPABASE_DB_URL", () => {
  assert.equal(dbUrlFromEnv({ SUPABASE_DB_URL: "a" }), "a");
  assert.equal(dbUrlFromEnv({ SUPABASE_DB_URL: "a", SMS_DB_URL: "b" }), "b");
  assert.equal(dbUrlFromEnv({}), undefined);
});

Deno.test("asUser runs as role authenticated with the user's claims, so RLS applies", async () => {
  const info = stack();
  const sql = createDb(info.dbUrl, { max: 1 });
  try {
    const [acme, bay] = info.seed.businesses;
    const user = acme.users[0];
    const seen = await asUser(sql, { sub: user.id, role: "authenticated" }, async (tx) => {
      const [who] = await tx`select current_user as role, auth.uid() as uid`;
      const rows = await tx`select distinct business_id from public.customers`;
      return { who, businesses: rows.map((r) => r.business_id) };
    });
    assert.equal(seen.who.role, "authenticated");
    assert.equal(seen.who.uid, user.id);
    assert.deepEqual(seen.businesses, [acme.id]);
    assert.ok(!seen.businesses.includes(bay.id));
    // The role is local to the transaction: the pooled connection is back to its owner.
    const [after] = await sql`select current_user as role`;
    assert.equal(after.role, "postgres");
  } finally {
    await sql.end();
  }
});

/**
 * A TCP proxy in front of Postgres that counts the client's protocol messages by type (after the
 * untyped start-up message), to see how a statement travels.
 */
function countingProxy(target: URL) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const counts = new Map<string, number>();
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
      conns.push(client, server);
      server.readable.pipeTo(client.writable).catch(() => {});
      let buffered = new Uint8Array(0);
      let started = false;
      client.readable.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, out) {
            const joined = new Uint8Array(buffered.length + chunk.length);
            joined.set(buffered);
            joined.set(chunk, buffered.length);
            let at = 0;
            while (true) {
              const head = started ? 1 : 0;
              if (joined.length - at < head + 4) break;
              const view = new DataView(joined.buffer, at + head, 4);
              const size = head + view.getInt32(0);
              if (joined.length - at < size) break;
              if (started) {
                const type = String.fromCharCode(joined[at]);
                counts.set(type, (counts.get(type) ?? 0) + 1);
              }
              started = true;
              at += size;
            }
            buffered = joined.slice(at);
            out.enqueue(chunk);
          },
        }),
      ).pipeTo(server.writable).catch(() => {});
    }
  })().catch(() => {});
  const url = new URL(target);
  url.port = String((listener.addr as Deno.NetAddr).port);
  return {
    url: url.toString(),
    count: (type: string) => counts.get(type) ?? 0,
    reset: () => counts.clear(),
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
    },
  };
}

Deno.test("params: a statement whose parameters are typed goes in one round trip", async () => {
  const proxy = countingProxy(new URL(stack().dbUrl));
  const sql = createDb(proxy.url, { max: 1 });
  try {
    await sql`select 1`;
    proxy.reset();
    const p = params(sql);
    const [row] = await sql<{ t: string; n: number; u: string | null }[]>`
      select ${p.text("a")}::text as t, ${p.int(2)} + 1 as n, ${p.text(null)}::uuid as u`;
    assert.deepEqual({ ...row }, { t: "a", n: 3, u: null });
    // Parse, Describe, Bind, Execute and Sync in one go: no Flush to wait for a description.
    assert.equal(proxy.count("P"), 1);
    assert.equal(proxy.count("H"), 0);
    // An untyped string makes postgres.js ask for the parameter types first.
    proxy.reset();
    await sql`select ${"a"}::text as t`;
    assert.equal(proxy.count("H"), 1);
  } finally {
    await sql.end();
    proxy.close();
  }
});

Deno.test("a statement waits for a free connection, not behind one in flight", async () => {
  const proxy = countingProxy(new URL(stack().dbUrl));
  const sql = createDb(proxy.url, { max: 1 });
  const holder = createDb(stack().dbUrl, { max: 1 });
  try {
    await sql`select 1`;
    await holder`select pg_advisory_lock(4242)`;
    proxy.reset();
    const p = params(sql);
    const slow = sql`select pg_advisory_lock(${p.int(4242)}), pg_advisory_unlock(${p.int(4242)})`
      .execute();
    const next = sql`select ${p.int(1)} as n`.execute();
    while (proxy.count("P") < 1) await new Promise((r) => setTimeout(r, 5));
    // A pipelined statement is written at once, behind the first; this one must not be.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(proxy.count("P"), 1);
    await holder`select pg_advisory_unlock(4242)`;
    await slow;
    const [row] = await next;
    assert.equal(row.n, 1);
    assert.equal(proxy.count("P"), 2);
  } finally {
    await holder.end();
    await sql.end();
    proxy.close();
  }
});
