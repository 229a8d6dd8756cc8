import { functionEnv as stackFunctionEnv } from "@local/stack.ts";
/**
 * Faults against the running stack, each followed by recovery and the exactly-once check: every
 * queued message ends sent exactly once (one sandbox message, whose sid its log holds) or failed
 * with its reason.
 *
 * - Postgres restarted (fast shutdown: every session killed) in the middle of a drain; the
 *   functions' postgres.js pools and the pg_net worker must reconnect by themselves.
 * - Twilio unreachable for a while: 5xx, then requests that hang and drop, then connection
 *   refused, for send-sms and process-retries alike.
 * - The stack's process-retries process SIGKILLed mid-send (the stack restarts it), and the
 *   send-sms process killed with requests in flight (their in-flight guards bring them back).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { FunctionProcess } from "@local/functions.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { freePort } from "@local/ports.ts";
import { startCluster, stopCluster } from "@local/postgres.ts";
import { withCronPaused } from "../db/fixtures.ts";
import { db } from "../support/stack.ts";
import {
  type Answer,
  answerOf,
  assertExactlyOnce,
  drain,
  enqueueDue,
  functionPid,
  info,
  invokeRetries,
  makeTenant,
  openRows,
  postStatus,
  RETRIES_URL,
  rowStates,
  sandboxApi,
  sandboxConfig,
  sandboxMessages,
  SEND_SMS_URL,
  sleep,
  timeWarp,
  waitListening,
  workerStats,
  zoneAtLocalHour,
} from "./support.ts";

const OWNER_TOKEN = info.tokens.users["owner@acme.test"];

async function sendSms(body: Record<string, unknown>): Promise<Answer> {
  return await answerOf(
    await fetch(SEND_SMS_URL, {
      method: "POST",
      headers: { authorization: `Bearer ${OWNER_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function countWhere(sql: postgres.Sql, businessId: string, status: string) {
  const [r] = await sql<{ n: number }[]>`
    select count(*)::int as n from sms.retry_queue
     where business_id = ${businessId} and status = ${status}`;
  return r.n;
}

/** Logs marked 'sending' but without a sid: a send in flight right now. */
async function inFlight(sql: postgres.Sql, businessId: string) {
  const [r] = await sql<{ n: number }[]>`
    select count(*)::int as n from public.send_logs
     where business_id = ${businessId} and status = 'sending'
       and provider_message_id ->> 'twilio_sid' is null`;
  return r.n;
}

/** Stops the stack's cluster (fast: sessions are killed), waits, starts it on the same port. */
async function restartPostgres(downMs: number): Promise<void> {
  const port = Number(new URL(info.dbUrl).port);
  // Keep the settings the stack started it with (stack.conf, rewritten by startCluster).
  const extraConfig: Record<string, string> = {};
  for (const line of (await Deno.readTextFile(`${info.dataDir}/stack.conf`)).split("\n")) {
    const m = /^\s*([\w.]+)\s*=\s*(.+?)\s*$/.exec(line);
    if (m) extraConfig[m[1]] = m[2];
  }
  await stopCluster(info.dataDir);
  await sleep(downMs);
  await startCluster({ dataDir: info.dataDir, port, extraConfig });
}

Deno.test("faults: Postgres restarted mid-drain — pools recover, every row sent exactly once", async () => {
  const sql = db(2);
  const day = zoneAtLocalHour(13);
  const tenant = await makeTenant(
    sql,
    "pg-restart",
    Array.from({ length: 8 }, () => ({
      timeZone: day,
    })),
  );
  try {
    await withCronPaused(sql, async () => {
      await sandboxApi("/api/messages", { method: "DELETE" });
      await sandboxConfig({ latencyMs: 40 });
      const rows = await enqueueDue(sql, tenant, 60, `pg-restart ${crypto.randomUUID()}`);
      // The stack's worker sends 10 segments/s: 60 rows take 6 s, so the restart lands mid-way.
      const interrupted = invokeRetries(RETRIES_URL, { batchSize: 100 }).catch((e) => e as Error);
      await waitFor(
        "the drain to get going",
        async () => await countWhere(sql, tenant.businessId, "completed") >= 8,
      );
      const before = await countWhere(sql, tenant.businessId, "completed");
      const names = ["send-sms", "twilio-webhook", "process-retries"];
      const pids = await Promise.all(names.map(functionPid));
      const started = performance.now();
      await restartPostgres(1500);
      const outageMs = Math.round(performance.now() - started);
      const cut = await interrupted;
      const cutStatus = cut instanceof Error ? cut.message : cut.status;
      console.log(
        `Postgres down ${outageMs} ms after ${before}/60 rows; the interrupted run answered ${cutStatus}`,
      );
      await sandboxConfig({ reset: true });
      // A worker may also have been replaced for its own reasons (its CPU budget, a wall-clock
      // retirement); the test below proves that a dropped connection does not end a process.
      // Either way every function must be serving again.
      for (const name of names) await waitListening(name);
      const now = await Promise.all(names.map(functionPid));
      const restarted = names.filter((_, i) => now[i] !== pids[i]);
      console.log(`functions restarted after the outage: ${restarted.join(", ") || "none"}`);

      // Every function's pool reconnects by itself: a send, a callback and a drain succeed.
      const probe = tenant.customers[0];
      const sent = await sendSms({
        customerId: probe.id,
        body: `after restart ${crypto.randomUUID()}`,
      });
      assert.equal(sent.status, 200, `send-sms after the restart: ${sent.text}`);
      const sid = (sent.json as { providerMessageId: string }).providerMessageId;
      const callback = await postStatus(sid, "delivered");
      assert.equal(callback.status, 200, `twilio-webhook after the restart: ${callback.text}`);
      const runs = await drain(sql, tenant.businessId, { batchSize: 100 });
      console.log(`recovery: ${runs.length} run(s): ${runs.map((r) => r.text).join(" ")}`);

      // And the pg_net worker: a request queued now is sent and answered.
      const [{ id }] = await sql<{ id: string }[]>`
        select net.http_post(${`${info.apiUrl}/health`}, '{}'::jsonb)::text as id`;
      await waitFor(
        "pg_net's answer",
        async () =>
          (await sql`select 1 from net._http_response where id = ${id}::bigint and status_code = 200`)
            .length === 1,
      );

      const figures = await assertExactlyOnce(sql, tenant.businessId);
      console.log(`pg restart: ${JSON.stringify(figures)}`);
      assert.equal(figures.rows, rows.length);
      assert.equal(figures.completed, rows.length, "every row was sent once");
    });
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await tenant.drop();
    await sql.end();
  }
});

const ENTRY = join(PROJECT_ROOT, "supabase", "functions", "process-retries", "index.ts");

/** The stack's function environment (local/stack.ts), with `extra` on top. */
function functionEnv(extra: Record<string, string>): Record<string, string> {
  return { ...stackFunctionEnv(info), ...extra };
}

Deno.test("faults: Twilio unreachable for a while (5xx, hung connections, refused) — nothing lost, nothing twice", async () => {
  const sql = db(2);
  const day = zoneAtLocalHour(13);
  const tenant = await makeTenant(
    sql,
    "unreachable",
    Array.from({ length: 6 }, () => ({
      timeZone: day,
    })),
  );
  const tag = `unreachable ${crypto.randomUUID()}`;
  try {
    await withCronPaused(sql, async () => {
      await sandboxApi("/api/messages", { method: "DELETE" });
      const faults = { http5xx: 0, hung: 0, refused: 0 };

      // 1. Every create answers 500/503: send-sms defers.
      await sandboxConfig({ rate5xx: 1 });
      for (let i = 0; i < 8; i++) {
        const c = tenant.customers[i % tenant.customers.length];
        const a = await sendSms({ customerId: c.id, body: `${tag} 5xx #${i}` });
        assert.equal(a.status, 202, a.text);
        assert.equal((a.json as { reason: string }).reason, "provider_unavailable");
      }
      // 2. Every create hangs, then the connection drops: the outcome is unknown.
      await sandboxConfig({ rate5xx: 0, rateTimeout: 1, timeoutHangMs: 300 });
      for (let i = 0; i < 8; i++) {
        const c = tenant.customers[i % tenant.customers.length];
        const a = await sendSms({ customerId: c.id, body: `${tag} hung #${i}` });
        assert.equal(a.status, 202, a.text);
      }
      const uncertain = (await rowStates(sql, tenant.businessId)).filter((r) =>
        r.outcome_uncertain
      );
      assert.equal(uncertain.length, 8, "a dropped request leaves the row to be reconciled");
      const queued = await enqueueDue(sql, tenant, 24, `${tag} queued`);

      // 3. Connection refused: a worker whose Twilio is gone altogether.
      const dead = freePort();
      const proc = new FunctionProcess(
        { name: "process-retries", entry: ENTRY, verifyJwt: false },
        {
          port: freePort(),
          env: functionEnv({ TWILIO_API_BASE_URL: `http://127.0.0.1:${dead}` }),
          tag: info.stateDir,
          log: () => {},
        },
      );
      await proc.start();
      try {
        await timeWarp(sql, tenant.businessId);
        const a = await invokeRetries(`http://127.0.0.1:${proc.port}/`, { batchSize: 100 });
        assert.equal(a.status, 200, a.text);
        const r = a.json as { claimed: number; sent: number };
        assert.equal(r.sent, 0, "nothing can be sent");
        faults.refused += r.claimed;
      } finally {
        await proc.stop();
      }
      // 4. The stack's worker while Twilio still answers 5xx.
      await sandboxConfig({ rateTimeout: 0, rate5xx: 1 });
      await timeWarp(sql, tenant.businessId);
      const during = await invokeRetries(RETRIES_URL, { batchSize: 100 });
      assert.equal(during.status, 200, during.text);
      assert.equal((during.json as { sent: number }).sent, 0);

      const attempts = await sandboxApi("/api/attempts") as { to: string; outcome: string }[];
      const phones = new Set(tenant.customers.map((c) => c.phone));
      for (const at of attempts.filter((x) => phones.has(x.to))) {
        if (/5\d\d|server/.test(at.outcome)) faults.http5xx++;
        else if (/timeout|timed/.test(at.outcome)) faults.hung++;
      }

      // Twilio is back: drain until nothing is open.
      await sandboxConfig({ reset: true });
      const runs = await drain(sql, tenant.businessId, { batchSize: 100 });
      const figures = await assertExactlyOnce(sql, tenant.businessId);
      console.log(
        `unreachable: faults ${JSON.stringify(faults)}; recovery in ${runs.length} run(s); ${
          JSON.stringify(figures)
        }`,
      );
      assert.equal(figures.rows, 16 + queued.length);
      assert.equal(figures.completed, figures.rows, "every message went out once Twilio was back");
      assert.ok(faults.http5xx >= 8 && faults.refused >= 16, JSON.stringify(faults));
    });
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await tenant.drop();
    await sql.end();
  }
});

Deno.test("faults: the stack's process-retries SIGKILLed mid-send — restarted, every row sent exactly once", async () => {
  const sql = db(2);
  const day = zoneAtLocalHour(13);
  const tenant = await makeTenant(
    sql,
    "kill-worker",
    Array.from({ length: 8 }, () => ({
      timeZone: day,
    })),
  );
  try {
    await withCronPaused(sql, async () => {
      await sandboxApi("/api/messages", { method: "DELETE" });
      // Slow answers keep sends in flight.
      await sandboxConfig({ latencyMs: 250 });
      const rows = await enqueueDue(sql, tenant, 60, `kill-worker ${crypto.randomUUID()}`);
      const pid = await functionPid("process-retries");
      assert.ok(pid, "the stack's process-retries is running");
      const run = invokeRetries(RETRIES_URL, { batchSize: 100 });
      await waitFor(
        "sends in flight",
        async () =>
          await countWhere(sql, tenant.businessId, "completed") >= 5 &&
          await inFlight(sql, tenant.businessId) >= 1,
      );
      Deno.kill(pid, "SIGKILL");
      const cut = await run;
      // The platform's answer for a worker that died under a request: 500 WORKER_ERROR.
      assert.equal(cut.status, 500, `the gateway saw the function die: ${cut.text}`);
      assert.match(cut.text, /WORKER_ERROR/);
      const states = await rowStates(sql, tenant.businessId);
      const held = states.filter((s) => s.status === "processing").length;
      const midCall = states.filter((s) => s.status === "processing" && s.log_status === "sending")
        .length;
      console.log(
        `killed pid ${pid}: ${
          states.filter((s) => s.status === "completed").length
        } completed, ${held} held by the dead run (${midCall} mid-call)`,
      );
      assert.ok(held >= 1, "the dead run held rows");

      await waitFor("the stack to restart process-retries", async () => {
        const now = await functionPid("process-retries");
        return now !== null && now !== pid;
      });
      await waitListening("process-retries");
      await sandboxConfig({ reset: true });
      // The dead run's leases expire (timeWarp), its rows come back and are reconciled first.
      const runs = await drain(sql, tenant.businessId, { batchSize: 100 });
      const figures = await assertExactlyOnce(sql, tenant.businessId);
      console.log(`kill worker: recovery in ${runs.length} run(s); ${JSON.stringify(figures)}`);
      assert.equal(figures.completed, rows.length);
    });
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await tenant.drop();
    await sql.end();
  }
});

Deno.test("faults: send-sms killed with requests in flight — each message finished once by the next process-retries run", async () => {
  const sql = db(2);
  const day = zoneAtLocalHour(13);
  const tenant = await makeTenant(
    sql,
    "kill-send",
    Array.from({ length: 6 }, () => ({
      timeZone: day,
    })),
  );
  const tag = `kill-send ${crypto.randomUUID()}`;
  try {
    await withCronPaused(sql, async () => {
      await sandboxApi("/api/messages", { method: "DELETE" });
      await sandboxConfig({ latencyMs: 1500 });
      const requests = tenant.customers.map((c, i) => ({
        customerId: c.id,
        body: `${tag} #${i}`,
        idempotencyKey: `${tag} key ${i}`,
      }));
      const pid = await functionPid("send-sms");
      assert.ok(pid);
      const pending = requests.map((r) => sendSms(r));
      await waitFor(
        "sends in flight",
        async () => await inFlight(sql, tenant.businessId) === requests.length,
      );
      Deno.kill(pid, "SIGKILL");
      const cut = await Promise.all(pending);
      assert.ok(cut.every((a) => a.status === 500), cut.map((a) => a.status).join(" "));
      await waitFor("the stack to restart send-sms", async () => {
        const now = await functionPid("send-sms");
        return now !== null && now !== pid;
      });
      await waitListening("send-sms");
      await sandboxConfig({ reset: true });

      // The client retries with the same keys: never a second SMS.
      const again = await Promise.all(requests.map((r) => sendSms(r)));
      for (const a of again) {
        assert.ok([200, 409].includes(a.status), a.text);
      }
      const [orphans] = await sql<{ n: number }[]>`
        select count(*)::int as n from public.send_logs l
         where l.business_id = ${tenant.businessId} and l.status = 'sending'
           and l.provider_message_id ->> 'twilio_sid' is null
           and not exists (select 1 from sms.retry_queue q
                            where q.send_log_id = l.id and q.status in ('pending', 'processing'))`;
      assert.equal(orphans.n, 0, "every log cut off is held by its in-flight guard");
      const atTwilioBefore = (await sandboxMessages()).filter((m) => m.body.startsWith(tag));

      // send-sms is dead, so its guards' leases may run out: one run finishes every message,
      // looking each up in Twilio first (the sandbox may have taken some before the kill).
      await timeWarp(sql, tenant.businessId);
      const run = await invokeRetries();
      assert.equal(run.status, 200, run.text);
      const byBody = new Map<string, number>();
      for (const m of await sandboxMessages()) byBody.set(m.body, (byBody.get(m.body) ?? 0) + 1);
      for (const r of requests) assert.equal(byBody.get(r.body), 1, `sent once: ${r.body}`);
      await sandboxApi("/api/idle"); // its status callbacks delivered
      const logs = await sql<{ status: string; sid: string | null }[]>`
        select status, provider_message_id ->> 'twilio_sid' as sid from public.send_logs
         where business_id = ${tenant.businessId}`;
      assert.equal(logs.length, requests.length);
      assert.ok(logs.every((l) => l.sid && l.status === "delivered"), JSON.stringify(logs));
      assert.equal(await openRows(sql, tenant.businessId), 0, "no row left open");
      console.log(
        `kill send-sms: retries answered ${again.map((a) => a.status).join(" ")}; ` +
          `${atTwilioBefore.length} message(s) at Twilio before recovery, ` +
          `${requests.length - atTwilioBefore.length} sent by the recovery run; ` +
          JSON.stringify(JSON.parse(run.text)),
      );
    });
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await tenant.drop();
    await sql.end();
  }
});

/**
 * How many workers of each function died (an uncaught error, a kill from outside). A worker
 * retired for its CPU budget is planned, as on the platform, and not counted.
 */
async function crashes(names: readonly string[]): Promise<number[]> {
  return (await Promise.all(names.map(workerStats))).map((w) => w.crashed);
}

/**
 * Terminates the backend running a function's statement (found waiting on a lock the test
 * holds, by a fragment of its SQL): the connection drops under the query in flight.
 */
async function dropWaitingBackend(sql: postgres.Sql, queryFragment: string): Promise<void> {
  let pid = 0;
  await waitFor(`a backend waiting in ${queryFragment}`, async () => {
    const rows = await sql<{ pid: number }[]>`
      select pid from pg_stat_activity
       where wait_event_type = 'Lock' and query like ${"%" + queryFragment + "%"}
         and pid <> pg_backend_pid()`;
    pid = rows[0]?.pid ?? 0;
    return pid !== 0;
  });
  await sql`select pg_terminate_backend(${pid})`;
}

Deno.test("faults: a connection dropped under a request — the request fails in contract shape, the process stays, the next request reconnects", async () => {
  const sql = db(3);
  const day = zoneAtLocalHour(13);
  const tenant = await makeTenant(sql, "drop-conn", [{ timeZone: day }]);
  const customer = tenant.customers[0];
  const names = ["send-sms", "twilio-webhook", "process-retries"] as const;
  try {
    await withCronPaused(sql, async () => {
      for (const name of names) await waitListening(name);
      const crashesBefore = await crashes(names);
      const rounds = 3;
      for (let round = 0; round < rounds; round++) {
        // send-sms: the customer row is locked, so its write waits, and its connection drops.
        const cut = await sql.begin(async (tx) => {
          await tx`select 1 from public.customers where id = ${customer.id} for update`;
          const pending = sendSms({ customerId: customer.id, body: `drop ${round} a` });
          await dropWaitingBackend(sql, "start_send");
          return await pending;
        });
        assert.equal(cut.status, 500, cut.text);
        assert.equal((cut.json as { error: { code: string } }).error.code, "internal", cut.text);
        const next = await sendSms({ customerId: customer.id, body: `drop ${round} b` });
        assert.equal(next.status, 200, `send-sms reconnects: ${next.text}`);
        const sid = (next.json as { providerMessageId: string }).providerMessageId;

        // twilio-webhook: the message's sid is locked (record_status_event serialises on it),
        // so the callback's write waits and drops. The sandbox's own callbacks for the message
        // are delivered first (they would wait too).
        await sandboxApi("/api/idle");
        const [log] = await sql<{ id: string }[]>`
          select id from public.send_logs where provider_message_id ->> 'twilio_sid' = ${sid}`;
        const lost = await sql.begin(async (tx) => {
          await tx`select pg_advisory_xact_lock(hashtextextended(${"sms_message_sid:" + sid}, 0))`;
          const pending = postStatus(sid, "delivered");
          await dropWaitingBackend(sql, "record_status_event");
          return await pending;
        });
        assert.equal(lost.status, 500, lost.text);
        const again = await postStatus(sid, "delivered");
        assert.equal(again.status, 200, `twilio-webhook reconnects: ${again.text}`);
        const [after] = await sql<{ status: string }[]>`
          select status from public.send_logs where id = ${log.id}`;
        assert.equal(after.status, "delivered");

        // process-retries: the customer row is locked, so the row's re-check waits and drops;
        // the row stays held and the next run (after its lease) sends it once.
        await enqueueDue(sql, tenant, 1, `drop ${round} retry`);
        const dropped = await sql.begin(async (tx) => {
          await tx`select 1 from public.customers where id = ${customer.id} for update`;
          const pending = invokeRetries(RETRIES_URL, { batchSize: 10 });
          await dropWaitingBackend(sql, "retry_send_context");
          return await pending;
        });
        assert.ok(
          dropped.status === 200 || dropped.status === 500,
          `process-retries answers in contract shape: ${dropped.status} ${dropped.text}`,
        );
        await timeWarp(sql, tenant.businessId);
        const rerun = await invokeRetries(RETRIES_URL, { batchSize: 10 });
        assert.equal(rerun.status, 200, `process-retries reconnects: ${rerun.text}`);
        assert.equal(await openRows(sql, tenant.businessId), 0, "the row was finished");
      }
      const figures = await assertExactlyOnce(sql, tenant.businessId);
      assert.equal(figures.completed, rounds, JSON.stringify(figures));
      assert.deepEqual(await crashes(names), crashesBefore, "no function process exited");
      console.log(`dropped connections: ${rounds * names.length}, processes exited: none`);
    });
  } finally {
    await tenant.drop();
    await sql.end();
  }
});

Deno.test("faults: every function connection dropped twice under load — no process exits, requests in flight fail in contract shape, nothing lost or sent twice", async () => {
  // The test's own connections are named, so that only the functions' are dropped.
  const sql = postgres(info.dbUrl, {
    max: 3,
    onnotice: () => {},
    connection: { application_name: "fault-test" },
  });
  const day = zoneAtLocalHour(13);
  const tenant = await makeTenant(
    sql,
    "drop-load",
    Array.from({ length: 6 }, () => ({ timeZone: day })),
  );
  const tag = `drop-load ${crypto.randomUUID()}`;
  const names = ["send-sms", "twilio-webhook", "process-retries"] as const;
  try {
    await withCronPaused(sql, async () => {
      await sandboxApi("/api/messages", { method: "DELETE" });
      await sandboxConfig({ latencyMs: 50 });
      for (const name of names) await waitListening(name);
      const crashesBefore = await crashes(names);
      await enqueueDue(sql, tenant, 30, `${tag} queued`);

      const answers: { fn: string; a: Answer }[] = [];
      let stop = false;
      let sent = 0;
      const sender = async (lane: number) => {
        for (let i = 0; !stop; i++) {
          const customer = tenant.customers[(lane + i) % tenant.customers.length];
          const a = await sendSms({ customerId: customer.id, body: `${tag} ${lane}.${i}` });
          answers.push({ fn: "send-sms", a });
          sent++;
          const sid = (a.json as { providerMessageId?: string } | null)?.providerMessageId;
          if (a.status === 200 && sid) {
            answers.push({ fn: "twilio-webhook", a: await postStatus(sid, "delivered") });
          }
        }
      };
      const drainer = async () => {
        while (!stop) {
          answers.push({ fn: "process-retries", a: await invokeRetries(RETRIES_URL, {}) });
        }
      };
      const load = [sender(0), sender(1), sender(2), drainer()];
      // Some work in flight was cut and answered for: a request answered 500, or a run's row
      // error.
      const rowErrors = () =>
        answers.reduce(
          (n, { fn, a }) =>
            n +
            (fn === "process-retries"
              ? Number((a.json as { rowErrors?: number })?.rowErrors ?? 0)
              : 0),
          0,
        );
      const cut = () => answers.some(({ a }) => a.status === 500) || rowErrors() > 0;
      // Connections with a statement in flight (or a transaction open) are dropped, round after
      // round, until two rounds have hit some and some work was cut by them. A backend seen
      // active may finish its statement before the signal lands (a statement is one round trip,
      // docs/decisions.md), and then it dies idle, which its client only notices by reconnecting.
      let dropped = 0;
      for (let hits = 0, round = 0; (hits < 2 || !cut()) && round < 200; round++) {
        const before = sent;
        await waitFor("the load to get going", () => Promise.resolve(sent >= before + 1));
        const [{ n }] = await sql<{ n: number }[]>`
          select count(*)::int as n from (
            select pg_terminate_backend(pid) from pg_stat_activity
             where backend_type = 'client backend' and datname = current_database()
               and usename = current_user and application_name is distinct from 'fault-test'
               and state in ('active', 'idle in transaction')) t`;
        if (n > 0) hits++;
        dropped += n;
      }
      const after = sent;
      await waitFor("requests after the drops", () => Promise.resolve(sent >= after + 4));
      stop = true;
      await Promise.all(load);

      for (const { fn, a } of answers) {
        const shape = `${fn} ${a.status} ${a.text}`;
        assert.ok([200, 202, 500].includes(a.status), shape);
        if (a.status === 500) {
          assert.equal((a.json as { error?: { code?: string } })?.error?.code, "internal", shape);
        }
      }
      assert.deepEqual(await crashes(names), crashesBefore, "no function process exited");

      // The next requests succeed.
      const next = await sendSms({ customerId: tenant.customers[0].id, body: `${tag} next` });
      assert.equal(next.status, 200, next.text);
      const nextSid = (next.json as { providerMessageId: string }).providerMessageId;
      const nextCallback = await postStatus(nextSid, "delivered");
      assert.equal(nextCallback.status, 200, nextCallback.text);

      // What was cut is finished by the queue: sends whose guard outlived them, rows held.
      await sandboxConfig({ reset: true });
      await drain(sql, tenant.businessId, { batchSize: 200 });
      const figures = await assertExactlyOnce(sql, tenant.businessId);
      const logs = await sql<{ status: string; sid: string | null }[]>`
        select status, provider_message_id ->> 'twilio_sid' as sid from public.send_logs
         where business_id = ${tenant.businessId}`;
      const stranded = logs.filter((l) =>
        l.sid === null && !["failed", "canceled"].includes(l.status)
      );
      assert.deepEqual(stranded, [], "every log sent or ended with its reason");
      const bodies = (await sandboxMessages()).filter((m) => m.body.startsWith(tag));
      assert.equal(new Set(bodies.map((m) => m.body)).size, bodies.length, "nothing sent twice");
      const fiveHundreds = answers.filter(({ a }) => a.status === 500).length;
      console.log(
        `drops under load: ${dropped} connections dropped mid-statement; ${answers.length} ` +
          `requests, ${fiveHundreds} answered 500 internal; processes exited: none; ` +
          `queue after recovery ${JSON.stringify(figures)}; ${logs.length} logs, none stranded`,
      );
      assert.ok(dropped > 0, "the drops hit the functions' connections");
      assert.ok(fiveHundreds + rowErrors() > 0, "some work in flight was cut and answered for");
    });
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await tenant.drop();
    await sql.end();
  }
});
