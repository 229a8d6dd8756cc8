/**
 * A throwaway stack for a benchmark, in its own process (so the gateway and the sandbox do not
 * share an event loop with the benchmark's clients): own state folder, free ports, durability
 * off, the test fixtures served beside the project's functions. Prints `STACK_READY <stack.json>`
 * on stdout once up; stops everything when it gets SIGTERM/SIGINT or when its stdin closes (the
 * benchmark died).
 *
 * Usage: deno run -A bench/lib/stack-host.ts
 */
import { startStack } from "@local/stack.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";

const stateDir = await Deno.makeTempDir({ prefix: "sms-bench-" });
// Postgres (running as its own user) must traverse the folder.
await Deno.chmod(stateDir, 0o755);
const encoder = new TextEncoder();
const log = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

const starting = startStack({
  stateDir,
  ports: { api: 0, db: 0, sandbox: 0 },
  autoPorts: true,
  ephemeral: true,
  extraSupabaseDirs: [join(PROJECT_ROOT, "tests", "fixtures", "supabase")],
  // The functions' info logs are dropped. Inherited, they reached the benchmark's process, which
  // read and discarded each line: CPU the benchmark charged to whichever function logs (send-sms's
  // one line a send, 0.1-0.2 ms a request in the load client's column). A function still formats
  // and writes them; warnings and errors (stderr) still reach this stack's log.
  quietFunctions: true,
  log,
});

let stopping = false;
async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  const stack = await starting.catch(() => null);
  await stack?.stop();
  await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  if (stack && stack.info.dataDir.startsWith("/tmp/sms-stack-")) {
    await Deno.remove(stack.info.dataDir.replace(/\/pg$/, ""), { recursive: true })
      .catch(() => {});
  }
  Deno.exit(code);
}
Deno.addSignalListener("SIGINT", () => shutdown(0));
Deno.addSignalListener("SIGTERM", () => shutdown(0));
// The lifeline: when the benchmark goes away, its end of our stdin closes.
(async () => {
  const buf = new Uint8Array(256);
  while ((await Deno.stdin.read(buf)) !== null) { /* nothing is sent; wait for EOF */ }
  await shutdown(0);
})();

try {
  await starting;
} catch (e) {
  log(`stack did not start: ${(e as Error).stack ?? e}`);
  await shutdown(1);
}
if (!stopping) {
  await Deno.stdout.write(encoder.encode(`STACK_READY ${join(stateDir, "stack.json")}\n`));
}
