/**
 * Runs the sandbox on its own: `deno run -A local/sandbox/main.ts`.
 *
 * Reads the same variables the app does: `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`,
 * `TWILIO_PHONE_NUMBER` (comma-separated for several), `TWILIO_MESSAGING_SERVICE_SID`,
 * `TWILIO_WEBHOOK_URL`; plus `SANDBOX_PORT` (default 54324, the local stack's port) and
 * `SANDBOX_HOSTNAME` (default 127.0.0.1). Stops on SIGINT/SIGTERM.
 * @module
 */
import { startSandbox } from "./server.ts";

/** The sandbox's port in the local stack (Supabase local port range). */
export const SANDBOX_PORT = 54324;

if (import.meta.main) {
  const env = (name: string) => Deno.env.get(name)?.trim() || undefined;
  const accountSid = env("TWILIO_ACCOUNT_SID");
  const authToken = env("TWILIO_AUTH_TOKEN");
  const phoneNumbers = (env("TWILIO_PHONE_NUMBER") ?? "").split(",").map((n) => n.trim())
    .filter(Boolean);
  if (!accountSid || !authToken || phoneNumbers.length === 0) {
    console.error("set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER");
    Deno.exit(2);
  }
  const sandbox = await startSandbox({
    port: Number(env("SANDBOX_PORT") ?? SANDBOX_PORT),
    hostname: env("SANDBOX_HOSTNAME"),
    accountSid,
    authToken,
    phoneNumbers,
    messagingServiceSid: env("TWILIO_MESSAGING_SERVICE_SID"),
    inboundWebhookUrl: env("TWILIO_WEBHOOK_URL"),
    log: (line) => console.log(`[twilio-sandbox] ${line}`),
  });
  const stop = async () => {
    await sandbox.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
