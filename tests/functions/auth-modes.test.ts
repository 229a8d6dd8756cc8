/**
 * The three functions boot and serve with `SUPABASE_JWKS` in every form the platform gives it:
 * `{ "keys": [...] }` (the platform and the CLI), a bare array (accepted by @supabase/server), and
 * a legacy project's, whose only key is the JWT secret as an `oct` JWK. Each form gets its own
 * workers on the edge runtime's Deno behind an instance of the stack's gateway configured like
 * such a project (`verify_jwt` against its keys), and is driven end to end: a signed-in user's
 * send through supabase-js's `functions.invoke`, a signed Twilio callback, a cron call.
 */
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import twilio from "twilio";
import { FunctionProcess } from "@local/functions.ts";
import { startGateway } from "@local/gateway.ts";
import { functionJwks, loadOrCreateKeys, mintUserToken, publicJwks } from "@local/keys.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { freePort } from "@local/ports.ts";
import { functionEnv } from "@local/stack.ts";
import { createCustomer } from "../support/sms.ts";
import { newSid, statusParams } from "./twilio-webhook-support.ts";
import { db, stack } from "../support/stack.ts";

const info = stack();
const NAMES = ["send-sms", "twilio-webhook", "process-retries"] as const;

interface Project {
  form: string;
  jwks: string;
  legacy: boolean;
}

async function projects(): Promise<Project[]> {
  const keys = await loadOrCreateKeys(join(info.stateDir, "jwt-keys.json"));
  const object = functionJwks(keys, "asymmetric");
  return [
    { form: "object", jwks: object, legacy: false },
    { form: "array", jwks: JSON.stringify(JSON.parse(object).keys), legacy: false },
    { form: "legacy HS256", jwks: functionJwks(keys, "legacy"), legacy: true },
  ];
}

for (const project of await projects()) {
  Deno.test(`auth modes: every function serves with SUPABASE_JWKS as ${project.form}`, async () => {
    const keys = await loadOrCreateKeys(join(info.stateDir, "jwt-keys.json"));
    const mode = project.legacy ? "legacy" : "asymmetric";
    const gatewayPort = freePort();
    const apiUrl = `http://127.0.0.1:${gatewayPort}`;
    const env = { ...functionEnv(info), SUPABASE_JWKS: project.jwks, SUPABASE_URL: apiUrl };
    const procs = NAMES.map((name) =>
      new FunctionProcess(
        {
          name,
          entry: join(PROJECT_ROOT, "supabase", "functions", name, "index.ts"),
          verifyJwt: name === "send-sms",
        },
        { port: freePort(), env, tag: info.stateDir, log: () => {} },
      )
    );
    const sql = db();
    let gateway: Deno.HttpServer | null = null;
    try {
      await Promise.all(procs.map((p) => p.start()));
      gateway = startGateway({
        port: gatewayPort,
        jwks: publicJwks(keys, mode),
        jwtSecret: project.legacy ? keys.jwtSecret : undefined,
        functions: procs,
      });
      const owner = info.seed.businesses[0].users[0];
      const token = await mintUserToken(keys, { sub: owner.id, email: owner.email }, {
        issuer: `${apiUrl}/auth/v1`,
        expiresIn: 600,
        mode,
      });
      assert.equal(
        JSON.parse(atob(token.split(".")[0])).alg,
        project.legacy ? "HS256" : "ES256",
      );

      // send-sms as the frontend calls it: supabase-js with the user's access token.
      const customer = await createCustomer(sql);
      const supabase = createClient(apiUrl, info.tokens.anon, {
        auth: { persistSession: false, autoRefreshToken: false },
        global: { headers: { authorization: `Bearer ${token}` } },
      });
      const { data, error } = await supabase.functions.invoke("send-sms", {
        body: { customerId: customer.id, body: `auth modes: ${project.form}` },
      });
      assert.equal(error, null, `send-sms answered an error: ${error}`);
      assert.equal(data.status, "sent", JSON.stringify(data));
      const [log] = await sql<{ status: string }[]>`
        select status from public.send_logs where id = ${data.sendLogId}`;
      assert.ok(["sending", "sent", "queued", "delivered"].includes(log.status), log.status);

      // A token signed some other way is refused by the gateway and by the function itself.
      const forged = await mintUserToken(keys, { sub: owner.id, email: owner.email }, {
        issuer: `${apiUrl}/auth/v1`,
        expiresIn: 600,
        mode: project.legacy ? "asymmetric" : "legacy",
      });
      const viaGateway = await fetch(`${apiUrl}/functions/v1/send-sms`, {
        method: "POST",
        headers: { authorization: `Bearer ${forged}` },
        body: "{}",
      });
      assert.equal(viaGateway.status, 401);
      await viaGateway.body?.cancel();
      const direct = await fetch(`http://127.0.0.1:${procs[0].port}/send-sms`, {
        method: "POST",
        headers: { authorization: `Bearer ${forged}` },
        body: JSON.stringify({ customerId: customer.id, body: "forged" }),
      });
      assert.equal(direct.status, 401);
      assert.equal((await direct.json()).error.code, "unauthorized");

      // twilio-webhook: a signed callback for an unknown message is acknowledged with TwiML.
      const params = statusParams(newSid(), "delivered");
      const signature = twilio.getExpectedTwilioSignature(
        info.twilio.authToken,
        info.twilio.webhookUrl,
        params,
      );
      const hook = await fetch(`${apiUrl}/functions/v1/twilio-webhook`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-twilio-signature": signature,
        },
        body: new URLSearchParams(params).toString(),
      });
      assert.equal(hook.status, 200, await hook.clone().text());
      assert.match(hook.headers.get("content-type") ?? "", /xml/);
      await hook.body?.cancel();

      // process-retries: the cron's call (a batch of one keeps it from draining others' rows).
      const cron = await fetch(`${apiUrl}/functions/v1/process-retries`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${info.processRetriesSecret}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ batchSize: 1, budgetMs: 1000 }),
      });
      assert.equal(cron.status, 200);
      assert.deepEqual(Object.keys(await cron.json()).sort(), [
        "claimed",
        "deferred",
        "failed",
        "sent",
        "skipped",
      ]);
      for (const p of procs) assert.equal(p.stats().crashed, 0, `${p.spec.name} never crashed`);
    } finally {
      await gateway?.shutdown();
      await Promise.all(procs.map((p) => p.stop()));
      await sql.end();
    }
  });
}
