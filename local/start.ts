/**
 * `npm start`: brings up the local stack, prints a summary, and runs until Ctrl-C or SIGTERM,
 * then stops everything it started, Postgres included.
 *
 * Flags: --state-dir=DIR (default .local), --auto-ports (replace busy ports), --api-port=N,
 * --db-port=N, --demo-port=N, --sandbox-port=N (instead of 54321-54324), --legacy-jwt (sign
 * tokens with the legacy HS256 secret instead of asymmetric keys), --plan=free|paid (the
 * functions' wall-clock limit: 150 s or 400 s).
 */
import { FREE_PLAN_LIMITS, PAID_PLAN_LIMITS } from "./limits.ts";
import { DEFAULT_PORTS, type StackInfo, startStack } from "./stack.ts";
import { join, PROJECT_ROOT } from "./paths.ts";

function flag(name: string): string | undefined {
  const hit = Deno.args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (!hit) return undefined;
  return hit.includes("=") ? hit.slice(hit.indexOf("=") + 1) : "true";
}

function summary(info: StackInfo): string {
  const acme = info.seed.businesses[0];
  const user = acme?.users[0];
  const customer = info.seed.customers.find((c) =>
    c.businessId === acme?.id && c.smsConsentStatus === "opted_in" && c.phoneStatus === "valid"
  );
  const msgUrl = `${info.sandboxUrl}/2010-04-01/Accounts/${info.twilio.accountSid}/Messages.json`;
  return `
Local SMS stack is running. Ctrl-C stops everything.

  API gateway      ${info.apiUrl}      functions at ${info.functionsUrl}/<name>
  Database         ${info.dbUrl}   (postgres: not a superuser, as on Supabase)
  Platform admin   ${info.adminDbUrl}
  Twilio sandbox   ${info.sandboxUrl}      inbox: ${info.sandboxUrl}/   messages: ${info.sandboxUrl}/api/messages
  Demo page        ${info.demoUrl}/     send-sms from a browser, as a seeded user; campaigns at ${info.demoUrl}/campaign
  JWKS             ${info.jwksUrl}
  Functions        ${
    info.functions.map((f) => `${f.name}${f.verifyJwt ? "" : " (no JWT)"}`).join(", ") ||
    "(none yet)"
  }
  Tokens, secrets  ${join(info.stateDir, "stack.json")}

Try it: send a raw Twilio-shaped request to the sandbox, then list what it received:
  curl -s -u ${info.twilio.accountSid}:${info.twilio.authToken} \\
    --data-urlencode To=${
    customer?.phone ?? "+12125550101"
  } --data-urlencode From=${info.twilio.phoneNumber} --data-urlencode Body='Hello from the sandbox' \\
    ${msgUrl}
  curl -s ${info.sandboxUrl}/api/messages
${
    user
      ? `\nSigned-in user of ${acme.name}: ${user.email} (token in stack.json under tokens.users, re-minted hourly)`
      : ""
  }
`;
}

/** `--<name>-port=N` for each of the stack's ports, Supabase's defaults otherwise. */
function ports(): typeof DEFAULT_PORTS {
  const out = { ...DEFAULT_PORTS };
  for (const name of Object.keys(out) as (keyof typeof DEFAULT_PORTS)[]) {
    const value = flag(`${name}-port`);
    if (value === undefined) continue;
    const port = Number(value);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      console.error(`--${name}-port=${value}: not a port number`);
      Deno.exit(2);
    }
    out[name] = port;
  }
  return out;
}

const stateDir = flag("state-dir") ?? join(PROJECT_ROOT, ".local");
const started = Date.now();
const abort = new AbortController();
const starting = startStack({
  stateDir: stateDir.startsWith("/") ? stateDir : join(Deno.cwd(), stateDir),
  autoPorts: flag("auto-ports") === "true",
  authMode: flag("legacy-jwt") === "true" ? "legacy" : "asymmetric",
  limits: flag("plan") === "paid" ? PAID_PLAN_LIMITS : FREE_PLAN_LIMITS,
  ports: ports(),
  signal: abort.signal,
  log: (line) => console.log(line),
});

/** Past this, whatever still runs is killed and `npm start` exits 1 (the stack's own stop is bounded well below it). */
const SHUTDOWN_DEADLINE_MS = 150_000;

// Listen before the stack is up, so a signal during start-up still stops what was started.
let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  // First, synchronously: the workers got the same signal and are exiting; that is not a crash.
  abort.abort();
  console.log("\nstopping the stack…");
  const deadline = setTimeout(() => {
    console.error("the stack did not stop in time; exiting (processes may be left: see ps)");
    Deno.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  const stack = await starting.catch(() => null);
  await stack?.stop();
  clearTimeout(deadline);
  console.log("stopped.");
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);

const stack = await starting.catch((e) => {
  if (stopping) return null;
  console.error(`\nThe stack did not start: ${(e as Error).message}`);
  Deno.exit(1);
});
if (stack && !stopping) {
  console.log(summary(stack.info));
  console.log(`(ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
