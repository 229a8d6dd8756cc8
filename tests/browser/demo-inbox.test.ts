/// <reference lib="dom" />
/**
 * The demo page and the SMS inbox in a real browser (Debian's Chromium through playwright-core),
 * against the running stack: send from the demo page, watch the message arrive in the inbox with
 * its segments and status timeline, reply STOP from the inbox, and see the next send refused as
 * opted out. Screenshots go to test-artifacts/browser/; with UPDATE_DOCS_IMAGES=1 the README's
 * screenshots in docs/images/ are refreshed from them.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { SendSmsOutcome } from "@shared/contract/client.ts";
import type { SendSmsDeferredResponse, SendSmsSentResponse } from "@shared/contract/schemas.ts";
import { db, stack } from "../support/stack.ts";
import { createCustomer, sandbox, zoneAtLocalHour } from "../support/sms.ts";
import {
  type Browser,
  browserUnavailable,
  keepForReadme,
  launchBrowser,
  unexpectedErrors,
  until,
} from "./support.ts";

const skip = browserUnavailable();
if (skip) console.warn(`⚠ ${skip}`);

const OWNER = "owner@acme.test";
// 177 GSM-7 characters: more than 160, so two segments (of up to 153).
const REVIEW_REQUEST = "Hi Robin, thanks for choosing Acme Plumbing today! How did we do? " +
  "Tap to leave a quick review: https://acme.test/r/8f2k. Reply HELP for help, STOP to opt out. " +
  "See you next time!";

/** A customer the demo can text right now: 13:00 where they are, opted in, valid phone. */
async function newCustomer(name: string) {
  const sql = db();
  try {
    const c = await createCustomer(sql, { timeZone: zoneAtLocalHour(13), state: "NY" });
    await sql`update public.customers set name = ${name} where id = ${c.id}`;
    return { ...c, phone: c.phone!, name };
  } finally {
    await sql.end();
  }
}

async function customerState(id: string) {
  const sql = db();
  try {
    const [row] = await sql<{ consent: string; phone_status: string }[]>`
      select sms_consent_status as consent, phone_status from public.customers where id = ${id}`;
    return row;
  } finally {
    await sql.end();
  }
}

async function sendLog(id: string): Promise<{ status: string; error_code: number | null }> {
  const sql = db();
  try {
    const [row] = await sql<{ status: string; error_code: number | null }[]>`
      select status, error_code from public.send_logs where id = ${id}`;
    return row ?? { status: "missing", error_code: null };
  } finally {
    await sql.end();
  }
}

/** Opens the demo page, signed in as `user`, with `customerId` chosen; ready to type. */
async function openDemo(browser: Browser, customerId: string, user = OWNER): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${stack().demoUrl}/`);
  await page.waitForSelector("body[data-ready=true]");
  await page.selectOption("#user", user);
  await page.waitForFunction(
    (id) =>
      [...document.querySelectorAll("#customer option")].some((o) =>
        o.getAttribute("value") === id
      ),
    customerId,
  );
  await page.selectOption("#customer", customerId);
  return page;
}

/** Sends what the form holds and waits for the typed result; returns it. */
async function send(page: Page): Promise<SendSmsOutcome> {
  await page.click("#send");
  await page.waitForSelector("#result:not([data-outcome=pending]):not([data-outcome=none])");
  return JSON.parse(await page.textContent("#result pre.json") ?? "null");
}

/** The 200 answer, or a failed assertion showing what came instead. */
function sentOf(outcome: SendSmsOutcome): SendSmsSentResponse {
  assert.ok(outcome.ok && outcome.data.status === "sent", JSON.stringify(outcome));
  return (outcome as { data: SendSmsSentResponse | SendSmsDeferredResponse })
    .data as SendSmsSentResponse;
}

/** The typed error, or a failed assertion. */
function errorOf(outcome: SendSmsOutcome) {
  assert.ok(!outcome.ok, JSON.stringify(outcome));
  return (outcome as Extract<SendSmsOutcome, { ok: false }>).error;
}

Deno.test({
  name: "browser: send from the demo, see it in the inbox, reply STOP, next send is opted_out",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await sandbox.reset();
    const customer = await newCustomer("Robin Browser");
    const browser = await launchBrowser();
    try {
      // The demo page: live counter from the common module, running in the browser.
      const demo = await openDemo(browser, customer.id);
      await demo.fill("#body", REVIEW_REQUEST.slice(0, 150));
      assert.equal(await demo.textContent("#count-segments"), "1 segment");
      await demo.locator("#body").pressSequentially(REVIEW_REQUEST.slice(150));
      assert.equal(await demo.textContent("#count-characters"), "177 characters");
      assert.equal(await demo.textContent("#count-segments"), "2 segments");
      assert.equal(await demo.textContent("#count-encoding"), "GSM-7");

      const sent = sentOf(await send(demo));
      assert.equal(sent.segments, 2);
      assert.equal(sent.encoding, "GSM-7");
      const sid = sent.providerMessageId;
      assert.match(sid, /^SM[0-9a-f]{32}$/);
      assert.match(await demo.textContent("#result .headline") ?? "", /^Sent to Robin Browser/);
      await browser.screenshot(demo, "demo-sent");

      // The inbox: the conversation for the number, the message with its segments and timeline.
      const inbox = await browser.newPage();
      await inbox.goto(`${stack().sandboxUrl}/`);
      const conv = inbox.locator(`#conversations button[data-number="${customer.phone}"]`);
      await conv.click();
      await inbox.waitForSelector("#thread-heading", { state: "visible" });
      assert.equal(await inbox.textContent("#thread-heading"), customer.phone);
      const message = inbox.locator(`#thread li[data-sid="${sid}"]`);
      assert.equal(await message.locator(".bubble").textContent(), REVIEW_REQUEST);
      assert.equal(await message.locator(".segments").textContent(), "2 segments");
      assert.equal(await message.locator(".encoding").textContent(), "GSM-7");
      // Updates arrive without a reload: the callbacks take the message to delivered.
      await message.locator(".chip.status.delivered").waitFor();
      await message.locator(".timeline li .chip", { hasText: "delivered" }).waitFor();
      const steps = await message.locator(".timeline li").allTextContents();
      const statuses = await message.locator(".timeline li .chip").allTextContents();
      assert.deepEqual(statuses, ["queued", "sent", "delivered"]);
      assert.match(steps[0], /created \(HTTP 201\)/);
      assert.match(steps[1], /callback → HTTP 200/);
      assert.match(steps[2], /callback → HTTP 200/);

      // Reply STOP as the phone, through the signed inbound webhook.
      await inbox.click("button[data-reply=STOP]");
      await inbox.locator("#reply-result", { hasText: "Webhook answered HTTP 200" }).waitFor();
      const stop = inbox.locator("#thread li.msg.in", { hasText: "STOP" });
      await stop.waitFor();
      assert.match(await stop.locator(".meta").textContent() ?? "", /Twilio keyword STOP/);
      assert.match(await stop.locator(".meta").textContent() ?? "", /webhook → HTTP 200/);
      await inbox.locator("#thread-badges .badge", { hasText: "opted out" }).waitFor();
      await until(
        "customer opted out",
        () => customerState(customer.id),
        (s) => s.consent === "opted_out",
      );
      const inboxShot = await browser.screenshot(inbox, "inbox-after-stop");

      // The next send from the demo page is refused by the app, before it reaches Twilio.
      const refused = errorOf(await send(demo));
      assert.equal(refused.code, "opted_out");
      assert.equal(refused.status, 409);
      assert.equal(await demo.getAttribute("#result", "data-code"), "opted_out");
      // The customer list is read afresh: the customer now shows as opted out.
      await demo.waitForFunction(() =>
        document.querySelector("#customer option:checked")?.textContent?.includes("opted_out")
      );
      const demoShot = await browser.screenshot(demo, "demo-opted-out");
      const attempts = (await sandbox.attempts()).filter((a) => a.to === customer.phone);
      assert.deepEqual(attempts.map((a) => a.outcome), ["created"]);

      assert.deepEqual(browser.external, [], "no request left the machine");
      assert.deepEqual(unexpectedErrors(browser), []);
      await keepForReadme(demoShot, "demo");
      await keepForReadme(inboxShot, "inbox");
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name: "browser: the inbox arms a failure for a number and shows it live (30003, then 21211)",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await sandbox.reset();
    const customer = await newCustomer("Frankie Fail");
    const browser = await launchBrowser();
    try {
      // Open the number in the inbox before anything was sent to it, with the keyboard only.
      const inbox = await browser.newPage();
      await inbox.goto(`${stack().sandboxUrl}/`);
      await inbox.focus("#open-number");
      await inbox.keyboard.type(customer.phone);
      await inbox.keyboard.press("Enter");
      assert.equal(await inbox.textContent("#thread-heading"), customer.phone);
      await inbox.focus("#fail-code");
      await inbox.selectOption("#fail-code", "30003");
      await inbox.keyboard.press("Tab");
      assert.equal(await inbox.evaluate(() => document.activeElement?.textContent), "Arm failure");
      await inbox.keyboard.press("Enter");
      await inbox.locator("#fail-state", { hasText: "Armed" }).waitFor();
      await inbox.locator(`#conversations button[data-number="${customer.phone}"] .badge`, {
        hasText: "next fails 30003",
      }).waitFor();

      const demo = await openDemo(browser, customer.id);
      await demo.fill("#body", "Your technician Zoë is on the way.");
      assert.equal(await demo.textContent("#count-encoding"), "UCS-2");
      const sent = sentOf(await send(demo));
      assert.equal(sent.encoding, "UCS-2");
      const sid = sent.providerMessageId;

      // The inbox (no reload) shows the message going undelivered with the error code.
      const message = inbox.locator(`#thread li[data-sid="${sid}"]`);
      await message.locator(".chip.status.undelivered").waitFor();
      await message.locator(".timeline li .chip", { hasText: "undelivered" }).waitFor();
      assert.match(
        await message.textContent() ?? "",
        /error 30003 Unreachable destination handset/,
      );
      assert.match(await message.locator(".timeline").textContent() ?? "", /ErrorCode 30003/);
      await inbox.locator("#fail-state", { hasText: "No failure armed" }).waitFor();
      const log = await until(
        "send log undelivered",
        () => sendLog(sent.sendLogId),
        (r) => r.status === "undelivered",
      );
      assert.equal(log.error_code, 30003);
      await browser.screenshot(inbox, "inbox-undelivered-30003");

      // A REST error: Twilio refuses the create; the demo gets the typed error.
      await inbox.selectOption("#fail-code", "21211");
      await inbox.click("#fail-form button[type=submit]");
      await inbox.locator("#fail-state", { hasText: "fails with 21211" }).waitFor();
      await demo.fill("#body", "One more thing!");
      assert.equal(errorOf(await send(demo)).code, "invalid_phone");
      await inbox.locator("#thread li.msg.refused", { hasText: "21211" }).waitFor();
      await browser.screenshot(inbox, "inbox-refused-21211");
      await browser.screenshot(demo, "demo-invalid-phone");

      assert.deepEqual(browser.external, []);
      assert.deepEqual(unexpectedErrors(browser), []);
    } finally {
      await browser.close();
    }
  },
});

/** Tabs through the page; returns what got focus, with its accessible name and focus outline. */
async function tabOrder(page: Page, max = 80) {
  const seen: { tag: string; name: string; outline: string }[] = [];
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const info = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      const labels = (el as HTMLInputElement).labels;
      const name = el.getAttribute("aria-label") ??
        (labels && labels.length ? labels[0].textContent : null) ?? el.textContent ?? "";
      const style = getComputedStyle(el);
      return {
        tag: el.tagName.toLowerCase(),
        name: name.trim().replace(/\s+/g, " "),
        outline: `${style.outlineStyle} ${style.outlineWidth}`,
        id: el.id || el.dataset.number || name,
      };
    });
    if (!info || seen.some((s) => `${s.tag}${s.name}` === `${info.tag}${info.name}`)) break;
    seen.push(info);
  }
  return seen;
}

Deno.test({
  name: "browser: every control of both pages is reachable with Tab, labelled, visibly focused",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A short conversation list, so tabbing reaches the controls after it.
    await (await fetch(`${stack().sandboxUrl}/api/messages`, { method: "DELETE" })).body?.cancel();
    const customer = await newCustomer("Kim Keyboard");
    const browser = await launchBrowser();
    try {
      const demo = await openDemo(browser, customer.id);
      const demoOrder = await tabOrder(demo);
      const demoNames = demoOrder.map((s) => `${s.tag}:${s.name}`);
      for (
        const want of [
          "select:Signed-in user",
          "select:Customer",
          "textarea:Message",
          "input:Idempotency key (optional)",
          "button:New key",
          "button:Send SMS",
        ]
      ) assert.ok(demoNames.includes(want), `${want} in ${JSON.stringify(demoNames)}`);
      assert.ok(demoOrder.every((s) => !s.outline.startsWith("none")), JSON.stringify(demoOrder));
      // Send with the keyboard alone.
      await demo.focus("#body");
      await demo.keyboard.type("Sent with the keyboard");
      await demo.focus("#send");
      await demo.keyboard.press("Enter");
      await demo.waitForSelector("#result[data-outcome=sent]");

      const inbox = await browser.newPage();
      await inbox.goto(`${stack().sandboxUrl}/#${encodeURIComponent(customer.phone)}`);
      await inbox.locator("#thread li.msg.out").first().waitFor();
      const order = await tabOrder(inbox);
      const names = order.map((s) => `${s.tag}:${s.name}`);
      for (
        const want of [
          "a:Skip to the conversation",
          "input:Phone number",
          "button:Open",
          "button:Reply STOP",
          "button:Reply START",
          "button:Reply HELP",
          "input:Message",
          "select:To (the app's number)",
          "button:Send reply",
          "select:Twilio error",
          "button:Arm failure",
        ]
      ) assert.ok(names.includes(want), `${want} in ${JSON.stringify(names)}`);
      assert.ok(
        names.some((n) => n.startsWith(`button:${customer.phone}`)),
        "the conversation list is made of buttons",
      );
      assert.ok(order.every((s) => !s.outline.startsWith("none")), JSON.stringify(order));
      // Reply with the keyboard alone: focus the free-text field, type, Enter.
      await inbox.focus("#reply-body");
      await inbox.keyboard.type("Thanks, see you Tuesday");
      await inbox.keyboard.press("Enter");
      await inbox.locator("#thread li.msg.in", { hasText: "Thanks, see you Tuesday" }).waitFor();
      assert.deepEqual(unexpectedErrors(browser), []);
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name: "browser: a refusal checked in the browser says so (no request, no HTTP status); the " +
    "customer labels follow a STOP sent elsewhere without a reload; each send uses the current " +
    "token; neither page asks for a favicon",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await sandbox.reset();
    const customer = await newCustomer("Lee Labels");
    const browser = await launchBrowser();
    try {
      const demo = await openDemo(browser, customer.id);
      const requests: string[] = [];
      demo.on("request", (r) => requests.push(new URL(r.url()).pathname));

      // Three segments' worth: refused by sendSms's own check before any request.
      await demo.fill("#body", "x".repeat(500));
      const tooLong = errorOf(await send(demo));
      assert.equal(tooLong.code, "message_too_long");
      const headline = await demo.textContent("#result .headline") ?? "";
      assert.match(headline, /checked in the browser, nothing sent/, headline);
      assert.doesNotMatch(headline, /HTTP/, headline);
      assert.equal(await demo.getAttribute("#result", "data-requested"), "false");
      assert.match(await demo.textContent("#history li") ?? "", /message_too_long \(browser\)/);
      assert.deepEqual(requests.filter((p) => p.endsWith("/send-sms")), [], "nothing was sent");

      // A real send: the page takes the stack's current token first (it is re-minted while the
      // stack runs), then calls send-sms, which answers with its status.
      requests.length = 0;
      await demo.fill("#body", "Your appointment is confirmed.");
      sentOf(await send(demo));
      const session = requests.indexOf("/api/session");
      const call = requests.findIndex((p) => p.endsWith("/send-sms"));
      assert.ok(session >= 0 && call > session, `session read before the send: ${requests}`);
      assert.equal(await demo.getAttribute("#result", "data-requested"), "true");

      // The customer replies STOP (the sandbox's signed inbound webhook), not through this page:
      // its label follows without a reload and without another send.
      const label = () =>
        demo.evaluate(
          (id) => document.querySelector(`#customer option[value="${id}"]`)?.textContent ?? "",
          customer.id,
        );
      assert.match(await label(), /opted_in/);
      const res = await fetch(`${stack().sandboxUrl}/api/inbound`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ from: customer.phone, body: "STOP" }),
      });
      assert.equal(res.status, 200, await res.text());
      await until(
        "customer opted out",
        () => customerState(customer.id),
        (s) => s.consent === "opted_out",
      );
      await demo.waitForFunction(
        (id) =>
          document.querySelector(`#customer option[value="${id}"]`)?.textContent?.includes(
            "opted_out",
          ),
        customer.id,
        { timeout: 30_000 },
      );
      assert.equal(await demo.inputValue("#customer"), customer.id, "the choice is kept");

      // Both pages declare their icon (an empty data: URL), so the browser asks neither server
      // for /favicon.ico, which neither has (it was a 404 in the console on every load).
      const inbox = await browser.newPage();
      await inbox.goto(`${stack().sandboxUrl}/`);
      for (const page of [demo, inbox]) {
        assert.equal(await page.getAttribute("link[rel=icon]", "href"), "data:,", page.url());
      }
      assert.deepEqual(
        browser.errors.filter((e) =>
          /Failed to load resource/.test(e) && !/status of 4(09|22)/.test(e)
        ),
        [],
        "no request failed",
      );
      assert.deepEqual(browser.external, []);
    } finally {
      await browser.close();
    }
  },
});
