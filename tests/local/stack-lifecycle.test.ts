import assert from "node:assert/strict";
import { join, PROJECT_ROOT } from "@local/paths.ts";

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
