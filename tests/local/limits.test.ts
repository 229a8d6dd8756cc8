/**
 * The platform's per-worker limits, enforced by the local function supervisor the way the edge
 * runtime's per_worker policy does (local/limits.ts cites the sources): CPU time over the hard
 * limit and a spent wall clock terminate the worker (546 for its requests in flight), the CPU soft
 * limit retires it (new requests go to a fresh worker), the V8 heap is capped, and a response
 * that does not start within the idle timeout is answered 504.
 */
import assert from "node:assert/strict";
import { FunctionProcess } from "@local/functions.ts";
import { FREE_PLAN_LIMITS, type FunctionLimits } from "@local/limits.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { freePort } from "@local/ports.ts";
import { functionEnv } from "@local/stack.ts";
import { stack } from "../support/stack.ts";

const info = stack();
const ENTRY = join(PROJECT_ROOT, "tests", "fixtures", "supabase", "functions", "burn", "index.ts");

async function withBurn(
  limits: Partial<FunctionLimits>,
  fn: (call: (query: string) => Promise<Answer>, proc: FunctionProcess) => Promise<void>,
): Promise<void> {
  const lines: string[] = [];
  const proc = new FunctionProcess(
    { name: "burn", entry: ENTRY, verifyJwt: false },
    {
      port: freePort(),
      env: functionEnv(info),
      tag: info.stateDir,
      log: (l) => lines.push(l),
      limits: { ...FREE_PLAN_LIMITS, ...limits },
    },
  );
  await proc.start();
  try {
    await fn((query) => answer(`http://127.0.0.1:${proc.port}/burn?${query}`), proc);
  } finally {
    await proc.stop();
  }
}

interface Answer {
  status: number;
  code: string | null;
  body: Record<string, unknown>;
}

async function answer(url: string): Promise<Answer> {
  const res = await fetch(url);
  return { status: res.status, code: res.headers.get("sb-error-code"), body: await res.json() };
}

Deno.test("limits: a request past the CPU hard limit is cut off with the platform's 546", async () => {
  await withBurn({ cpuSoftMs: 200, cpuHardMs: 400 }, async (call, proc) => {
    const first = await call("cpuMs=10");
    assert.equal(first.status, 200);
    const cut = await call("cpuMs=30000");
    assert.equal(cut.status, 546);
    assert.equal(cut.code, "WORKER_RESOURCE_LIMIT");
    assert.deepEqual(Object.keys(cut.body).sort(), ["code", "message"]);
    // The next request boots a fresh worker, as the platform boots a new isolate.
    const next = await call("cpuMs=0");
    assert.equal(next.status, 200);
    assert.notEqual(next.body.pid, first.body.pid);
    assert.ok(proc.stats().started >= 2);
    assert.equal(proc.stats().terminated, 1);
  });
});

Deno.test("limits: past the CPU soft limit a worker is retired; its own request still ends", async () => {
  await withBurn({ cpuSoftMs: 150, cpuHardMs: 5000 }, async (call) => {
    const first = await call("cpuMs=0");
    // Spends past the soft limit, then waits: the worker is retired while this is in flight.
    const slow = call("cpuMs=1500&sleepMs=300");
    await new Promise((r) => setTimeout(r, 1000));
    const during = await call("cpuMs=0");
    const done = await slow;
    assert.equal(done.status, 200, "the retired worker finished its request");
    assert.equal(done.body.pid, first.body.pid);
    assert.notEqual(during.body.pid, first.body.pid, "new requests went to a new worker");
  });
});

Deno.test("limits: the V8 heap is capped; running out answers 546", async () => {
  await withBurn({ memoryMb: 64 }, async (call) => {
    const small = await call("mb=4");
    assert.equal(small.status, 200);
    const big = await call("mb=400");
    assert.equal(big.status, 546);
    assert.equal(big.code, "WORKER_RESOURCE_LIMIT");
  });
});

Deno.test("limits: no response within the idle timeout → 504 IDLE_TIMEOUT", async () => {
  await withBurn({ idleTimeoutMs: 300 }, async (call) => {
    const late = await call("sleepMs=3000");
    assert.equal(late.status, 504);
    assert.equal(late.code, "IDLE_TIMEOUT");
    assert.equal((await call("sleepMs=10")).status, 200, "the worker itself was not killed");
  });
});

Deno.test("limits: a worker's wall clock ends it, requests in flight answered 546", async () => {
  await withBurn({ wallClockMs: 1500 }, async (call) => {
    const cut = await call("sleepMs=5000");
    assert.equal(cut.status, 546);
    assert.equal((await call("sleepMs=0")).status, 200);
  });
});

Deno.test("limits: the stack's own functions get the hosted free plan's CPU limit", async () => {
  const res = await fetch(`${info.functionsUrl}/burn?cpuMs=30000`);
  assert.equal(res.status, 546);
  assert.equal(res.headers.get("sb-error-code"), "WORKER_RESOURCE_LIMIT");
  await res.body?.cancel();
  const again = await fetch(`${info.functionsUrl}/burn?cpuMs=0`);
  assert.equal(again.status, 200);
  await again.body?.cancel();
});
