/**
 * `npm start`: brings up the local stack, prints a summary, and runs until Ctrl-C or SIGTERM,
 * then stops everything it started, Postgres included.
 *
 * Flags: --state-dir=DIR (default .local), --auto-ports (replace busy ports), --legacy-jwt (sign
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
  Demo page        ${info.demoUrl}/     send-sms from a browser, as a seeded user
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
      ? `\nSigned-in user of ${acme.name}: ${user.email} (token in stack.json under tokens.users)`
      : ""
  }
`;
}

const stateDir = flag("state-dir") ?? join(PROJECT_ROOT, ".local");
const started = Date.now();
const starting = startStack({
  stateDir: stateDir.startsWith("/") ? stateDir : join(Deno.cwd(), stateDir),
  autoPorts: flag("auto-ports") === "true",
  authMode: flag("legacy-jwt") === "true" ? "legacy" : "asymmetric",
  limits: flag("plan") === "paid" ? PAID_PLAN_LIMITS : FREE_PLAN_LIMITS,
  ports: DEFAULT_PORTS,
  log: (line) => console.log(line),
});

// Listen before the stack is up, so a signal during start-up still stops what was started.
let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  console.log("\nstopping the stack…");
  const stack = await starting.catch(() => null);
  await stack?.stop();
  console.log("stopped.");
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);

const stack = await starting.catch((e) => {
  console.error(`\nThe stack did not start: ${(e as Error).message}`);
  Deno.exit(1);
});
if (!stopping) {
  console.log(summary(stack.info));
  console.log(`(ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
