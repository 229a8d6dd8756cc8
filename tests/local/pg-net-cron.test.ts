import assert from "node:assert/strict";
import { db, stack } from "../support/stack.ts";

const info = stack();
const target = `${info.functionsUrl}/echo-default`;

async function waitFor<T>(
  probe: () => Promise<T | null | undefined>,
  timeoutMs: number,
): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

Deno.test("net.http_post is sent only after its transaction commits", async () => {
  const sql = db();
  try {
    const marker = crypto.randomUUID();
    let requestId = "";
    await sql.begin(async (tx) => {
      const [row] = await tx`
        select net.http_post(${target}, jsonb_build_object('marker', ${marker}::text))::text as id`;
      requestId = row.id;
      await new Promise((r) => setTimeout(r, 1500));
      const [seen] = await sql`select count(*)::int as n from net._http_response
                                where id = ${requestId}::bigint`;
      assert.equal(seen.n, 0, "nothing is sent while the transaction is open");
    });
    const response = await waitFor(async () => {
      const [r] = await sql`select status_code, content from net._http_response
                             where id = ${requestId}::bigint`;
      return r;
    }, 10_000);
    assert.ok(response, "a response is recorded after commit");
    assert.equal(response.status_code, 200);
    assert.deepEqual(JSON.parse(JSON.parse(response.content).body), { marker });
  } finally {
    await sql.end();
  }
});

Deno.test("a rolled-back net.http_post is never sent", async () => {
  const sql = db();
  try {
    let requestId = "";
    await sql.begin(async (tx) => {
      const [row] = await tx`select net.http_post(${target})::text as id`;
      requestId = row.id;
      throw new Error("rollback");
    }).catch((e) => assert.equal(e.message, "rollback"));
    await new Promise((r) => setTimeout(r, 1500));
    const [seen] = await sql`select count(*)::int as n from net._http_response
                              where id = ${requestId}::bigint`;
    assert.equal(seen.n, 0);
  } finally {
    await sql.end();
  }
});

Deno.test({
  name: "pg_cron fires a scheduled job whose net.http_post reaches a function (slow)",
  async fn() {
    const sql = db();
    const job = `stack-test-${crypto.randomUUID()}`;
    try {
      // The SMS migrations enable pg_cron; this test of the stack itself must not depend on them.
      await sql`create extension if not exists pg_cron with schema pg_catalog`;
      const marker = crypto.randomUUID();
      const command = `select net.http_post('${target}', '{"cron": "${marker}"}'::jsonb)`;
      await sql`select cron.schedule(${job}, '* * * * *', ${command})`;
      const started = Date.now();
      const response = await waitFor(async () => {
        const [r] = await sql`select status_code, content from net._http_response
                               where content like ${"%" + marker + "%"}`;
        return r;
      }, 70_000);
      assert.ok(response, "the job's request reached the function within 70 s");
      assert.equal(response.status_code, 200);
      assert.equal(JSON.parse(response.content).function, "echo-default");
      console.log(`cron job answered after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const [run] = await sql`select status from cron.job_run_details d
                               join cron.job j on j.jobid = d.jobid
                              where j.jobname = ${job} order by d.runid desc limit 1`;
      assert.equal(run?.status, "succeeded");
    } finally {
      await sql`select cron.unschedule(${job})`.catch(() => {});
      await sql.end();
    }
  },
});
