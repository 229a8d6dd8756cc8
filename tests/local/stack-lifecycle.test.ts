import assert from "node:assert/strict";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { freePort } from "@local/ports.ts";
import { statFields } from "@local/procfs.ts";

/** Command lines of running processes that mention `needle`. */
async function processesMentioning(needle: string): Promise<string[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,args="], stdout: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((l) => l.includes(needle) && !l.includes("ps -eo"));
}

/** Runs `npm start`'s entry point until its summary appears; returns the child and its output. */
async function startStack(stateDir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(PROJECT_ROOT, "local/start.ts"),
      `--state-dir=${stateDir}`,
      "--auto-ports",
    ],
    cwd: PROJECT_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const dec = new TextDecoder();
  const reader = child.stdout.getReader();
  const errDone = (async () => {
    for await (const c of child.stderr) output += dec.decode(c);
  })();
  const deadline = Date.now() + 120_000;
  while (!output.includes("Local SMS stack is running") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    output += dec.decode(value);
  }
  const rest = (async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      output += dec.decode(value);
    }
  })();
  return {
    child,
    output: () => output,
    finished: async () => {
      const status = await child.status;
      await Promise.all([rest, errDone]);
      return status;
    },
  };
}

Deno.test({
  name: "npm start: starts, reuses its data, and stops every process on SIGTERM and SIGINT",
  async fn() {
    const stateDir = await Deno.makeTempDir({ prefix: "sms-lifecycle-" });
    await Deno.chmod(stateDir, 0o755);
    try {
      const first = await startStack(stateDir);
      assert.match(first.output(), /Local SMS stack is running/, first.output());
      assert.match(first.output(), /new cluster/);
      const info = JSON.parse(await Deno.readTextFile(join(stateDir, "stack.json")));
      const health = await fetch(`${info.apiUrl}/health`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      assert.ok((await processesMentioning(stateDir)).length > 0, "the stack's processes run");

      first.child.kill("SIGTERM");
      const status = await first.finished();
      assert.equal(status.code, 0, first.output());
      assert.deepEqual(await processesMentioning(stateDir), [], "nothing left after SIGTERM");

      const second = await startStack(stateDir);
      assert.match(second.output(), /reusing existing data/, second.output());
      second.child.kill("SIGINT");
      assert.equal((await second.finished()).code, 0);
      assert.deepEqual(await processesMentioning(stateDir), [], "nothing left after SIGINT");
    } finally {
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

/** Pids of the processes in process group `pgid`, with their command lines. */
function processGroup(pgid: number): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = statFields(`/proc/${entry.name}/stat`);
    if (!fields || Number(fields[2]) !== pgid || fields[0] === "Z") continue;
    let args = "";
    try {
      args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
    } catch {
      continue; // gone meanwhile
    }
    found.push(`${entry.name} ${args}`);
  }
  return found;
}

/** Waits until `fn` returns an empty list, or the deadline; returns what it last saw. */
async function untilEmpty(fn: () => string[] | Promise<string[]>, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  let left = await fn();
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    left = await fn();
  }
  return left;
}

/**
 * `npm start` as a terminal runs it: its own process group (npm, deno task, the stack, the
 * function workers), so a signal to the group reaches every one of them at once, as Ctrl-C does.
 * Never on Supabase's default ports: the OS picks them.
 */
async function npmStartInGroup(stateDir: string) {
  const child = new Deno.Command("npm", {
    args: [
      "start",
      "--",
      `--state-dir=${stateDir}`,
      "--auto-ports",
      ...["api", "db", "demo", "sandbox"].map((name) => `--${name}-port=${freePort()}`),
    ],
    cwd: PROJECT_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  let output = "";
  const dec = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const c of stream) output += dec.decode(c, { stream: true });
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const deadline = Date.now() + 180_000;
  while (!output.includes("Local SMS stack is running") && Date.now() < deadline) {
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 200)),
    ]);
    if (exited) break;
  }
  return {
    pgid: child.pid,
    output: () => output,
    finished: async () => {
      const status = await child.status;
      await pumped;
      return status;
    },
  };
}

Deno.test({
  name: "npm start in its own process group: Ctrl-C and SIGTERM to the group stop every " +
    "process, and a shutdown is never reported as a crash or answered with a restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const stateDir = await Deno.makeTempDir({ prefix: "sms-group-" });
    await Deno.chmod(stateDir, 0o755);
    try {
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        const run = await npmStartInGroup(stateDir);
        assert.match(run.output(), /Local SMS stack is running/, run.output());
        const info = JSON.parse(await Deno.readTextFile(join(stateDir, "stack.json")));
        // Every function has a worker before the signal, so there is something to misreport.
        for (const f of info.functions as { name: string; port: number }[]) {
          const res = await fetch(`http://127.0.0.1:${f.port}/`, { method: "OPTIONS" });
          await res.body?.cancel();
        }
        const members = processGroup(run.pgid);
        assert.ok(
          members.filter((p) => p.includes("function-host.ts")).length >= info.functions.length,
          `a worker per function in the group: ${members.join("\n")}`,
        );

        Deno.kill(-run.pgid, signal);
        // Generous: a busy machine may take a while; what matters is that it ends.
        const groupLeft = await untilEmpty(() => processGroup(run.pgid), 120_000);
        assert.deepEqual(groupLeft, [], `${signal}: the group's processes are gone`);
        const stackLeft = await untilEmpty(() => processesMentioning(stateDir), 60_000);
        assert.deepEqual(stackLeft, [], `${signal}: Postgres (its own session) is stopped too`);
        await run.finished();
        const out = run.output();
        assert.match(out, /stopped\./, out);
        assert.doesNotMatch(
          out,
          /exited \(code|replacing it|worker (terminated|out of memory)/,
          out,
        );
      }
    } finally {
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "npm start on a busy port: says which port and service, and how out; starts nothing",
  sanitizeResources: false,
  async fn() {
    const stateDir = await Deno.makeTempDir({ prefix: "sms-busy-" });
    await Deno.chmod(stateDir, 0o755);
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const busy = (taken.addr as Deno.NetAddr).port;
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          join(PROJECT_ROOT, "local/start.ts"),
          `--state-dir=${stateDir}`,
          `--api-port=${freePort()}`,
          `--db-port=${busy}`,
          `--demo-port=${freePort()}`,
          `--sandbox-port=${freePort()}`,
        ],
        cwd: PROJECT_ROOT,
        env: { DENO_NO_PACKAGE_JSON: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, text);
      assert.ok(text.includes(`port ${busy} (Postgres) is already in use`), text);
      assert.ok(text.includes("npm start -- --auto-ports"), text);
      assert.doesNotMatch(text, /could not bind|pg_ctl/, text);
      assert.deepEqual(await processesMentioning(stateDir), [], "nothing was started");
      const entries = [...Deno.readDirSync(stateDir)].map((e) => e.name);
      assert.deepEqual(entries.filter((e) => e === "pg" || e === "stack.json"), [], "untouched");
    } finally {
      taken.close();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
