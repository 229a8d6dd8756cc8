/// <reference lib="dom" />
/**
 * The demo's campaign page (`/campaign`) in a real browser (Debian's Chromium through playwright-core),
 * against the running stack: a template checked and rendered live per recipient, the function's
 * preview, a campaign sent and drained (process-retries, as pg_cron runs it) with its progress
 * read back through the demo server, and a second campaign paused and cancelled from the page.
 * Screenshots go to test-artifacts/browser/; with UPDATE_DOCS_IMAGES=1 the README's screenshots
 * in docs/images/ are refreshed from them.
 */
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { db, stack } from "../support/stack.ts";
import { createCustomer, sandbox, zoneAtLocalHour } from "../support/sms.ts";
import { invokeRetries } from "../reliability/support.ts";
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
const TEMPLATE = "Hi {{first_name}}, drain cleaning is 20% off this week.";
/** What a customer named `first` gets: a first message, so with the sender and STOP (CTIA). */
const expected = (first: string) =>
  `Acme Plumbing: Hi ${first}, drain cleaning is 20% off this week. Reply STOP to opt out.`;

interface Person {
  id: string;
  phone: string;
  name: string;
  first: string;
}

/** A customer of Acme at 13:00 where they are (no quiet hours), consenting unless told. */
async function newCustomer(name: string, consent: "opted_in" | "unknown" = "opted_in") {
  const sql = db();
  try {
    const c = await createCustomer(sql, { timeZone: zoneAtLocalHour(13), state: "NY", consent });
    await sql`update public.customers set name = ${name} where id = ${c.id}`;
    return { id: c.id, phone: c.phone!, name, first: name.split(" ")[0] } satisfies Person;
  } finally {
    await sql.end();
  }
}

async function query<T>(fn: (sql: ReturnType<typeof db>) => Promise<T>): Promise<T> {
  const sql = db();
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

const logsOf = (campaignId: string) =>
  query((sql) =>
    sql<{ to_phone: string; status: string; segments: number }[]>`
      select to_phone, status, segments from public.send_logs
       where campaign_id = ${campaignId}::uuid order by to_phone`
  );

const campaignStatus = (campaignId: string) =>
  query(async (sql) => {
    const [row] = await sql<{ status: string }[]>`
      select status from public.sms_campaigns where id = ${campaignId}::uuid`;
    return row?.status ?? "missing";
  });

/** Opens the demo page as `user` with the composer showing `ids` among the audience. */
async function openComposer(browser: Browser, ids: string[], user = OWNER): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${stack().demoUrl}/campaign`);
  await page.waitForSelector("body[data-ready=true]");
  await page.selectOption("#user", user);
  await page.waitForFunction(
    (wanted) => wanted.every((id) => document.getElementById(`aud-${id}`) !== null),
    ids,
  );
  await page.waitForSelector("#campaign-business option", { state: "attached" });
  return page;
}

async function choose(page: Page, people: Person[]) {
  await page.click("#audience-none");
  for (const p of people) await page.check(`#aud-${p.id}`);
}

/** Presses `button` and waits for the result panel to settle; returns its outcome. */
async function press(page: Page, button: string): Promise<string> {
  // The panel keeps the last outcome until the click's handler runs: wait for a new one.
  await page.evaluate(() => {
    document.getElementById("campaign-result")!.dataset.outcome = "none";
  });
  await page.click(button);
  await page.waitForSelector(
    "#campaign-result:not([data-outcome=pending]):not([data-outcome=none])",
  );
  return await page.getAttribute("#campaign-result", "data-outcome") ?? "";
}

/** The campaign's card in the progress list, once the page lists it. */
async function card(page: Page, campaignId: string): Promise<Locator> {
  const article = page.locator(`#campaign-progress article[data-campaign-id="${campaignId}"]`);
  await article.waitFor();
  return article;
}

/** Clicks a control of the campaign and waits for the function's answer. */
async function control(page: Page, campaignId: string, action: string) {
  await page.evaluate(() => {
    document.getElementById("campaign-control-result")!.dataset.outcome = "";
  });
  await (await card(page, campaignId)).locator(`button[data-action=${action}]`).click();
  await page.waitForSelector(
    "#campaign-control-result[data-outcome=ok], " +
      "#campaign-control-result[data-outcome=error]",
  );
  return {
    outcome: await page.getAttribute("#campaign-control-result", "data-outcome"),
    code: await page.getAttribute("#campaign-control-result", "data-code"),
    text: await page.textContent("#campaign-control-result"),
  };
}

Deno.test({
  name: "browser: compose a campaign, preview it, send it and watch it delivered; pause, cancel",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await sandbox.reset();
    const people = [
      await newCustomer("Maya Campaign"),
      await newCustomer("Noah Campaign"),
      await newCustomer("Lena Campaign"),
    ];
    const silent = await newCustomer("Omar Noconsent", "unknown");
    const browser = await launchBrowser();
    try {
      const page = await openComposer(browser, [...people, silent].map((p) => p.id));
      await choose(page, [...people, silent]);

      // An unknown placeholder is flagged as typed, and the client refuses it before any request.
      await page.fill("#template", "Hi {{frist_name}}!");
      await page.waitForSelector("#template-check[data-ok=false]");
      assert.match(await page.textContent("#template-check") ?? "", /\{\{frist_name\}\}/);
      assert.equal(await press(page, "#campaign-preview"), "error");
      assert.equal(
        await page.getAttribute("#campaign-result", "data-code"),
        "unknown_template_variable",
      );

      // The live preview: each consenting customer's message, rendered and measured in the page.
      await page.fill("#template", "");
      await page.locator("#template").pressSequentially("Hi ");
      await page.click("button.insert[data-variable=first_name]");
      await page.locator("#template").pressSequentially(", drain cleaning is 20% off this week.");
      assert.equal(await page.inputValue("#template"), TEMPLATE);
      await page.waitForSelector("#template-check[data-ok=true]");
      const live = page.locator("#live-preview li[data-customer-id]");
      await until("three live renders", () => live.count(), (n) => n === 3, 5_000);
      for (const p of people) {
        const item = page.locator(`#live-preview li[data-customer-id="${p.id}"]`);
        assert.equal(await item.locator(".sms").textContent(), expected(p.first));
        assert.equal(await item.locator(".segments").textContent(), "1 segment");
        assert.equal(await item.getAttribute("data-encoding"), "GSM-7");
      }
      assert.equal(
        await page.locator(`#live-preview li[data-customer-id="${silent.id}"]`).count(),
        0,
        "no message is rendered for the customer without consent",
      );

      // The function's preview: who gets a message, who does not and why, segments, cost.
      assert.equal(await press(page, "#campaign-preview"), "preview");
      assert.equal(await page.textContent("#pv-eligible"), "3");
      assert.equal(await page.getAttribute("#campaign-result", "data-ineligible_no_consent"), "1");
      assert.equal(
        await page.textContent("#pv-ineligible li[data-reason=no_consent]"),
        "no_consent: 1",
      );
      assert.equal(await page.locator("#pv-ineligible li").count(), 1, "no other reason");
      assert.equal(await page.textContent("#pv-segments"), "3");
      assert.match(await page.textContent("#pv-cost") ?? "", /^\$0\.\d{4} USD$/);
      assert.notEqual(await page.textContent("#pv-first"), "—");
      const composerShot = await browser.screenshot(page, "campaign-composer");

      // Send: the campaign is stored, three messages queued, the fourth customer skipped.
      assert.equal(await press(page, "#campaign-send"), "create");
      const campaignId = await page.getAttribute("#campaign-result", "data-campaign-id") ?? "";
      assert.match(campaignId, /^[0-9a-f-]{36}$/);
      await card(page, campaignId);
      const skips = await query((sql) =>
        sql<{ customer_id: string; reason: string }[]>`
          select customer_id, reason from public.sms_campaign_skips
           where campaign_id = ${campaignId}::uuid`
      );
      assert.deepEqual(skips.map((s) => ({ ...s })), [
        { customer_id: silent.id, reason: "no_consent" },
      ]);

      // pg_cron runs process-retries every minute; the test runs it now, as the cron would.
      const run = await invokeRetries();
      assert.equal(run.status, 200, run.text);
      // The sandbox's callbacks take every message to delivered; the next run ends the campaign.
      await until(
        "delivered",
        () => logsOf(campaignId),
        (logs) => logs.length === 3 && logs.every((l) => l.status === "delivered"),
        30_000,
      );
      await invokeRetries();
      await until("done", () => campaignStatus(campaignId), (s) => s === "done", 30_000);

      // The page's progress (polled from the demo server, under the user's RLS) agrees.
      const sent = await card(page, campaignId);
      await page.waitForSelector(
        `#campaign-progress article[data-campaign-id="${campaignId}"][data-status=done]`,
      );
      assert.equal(await sent.locator("td[data-count=delivered]").textContent(), "3");
      for (const k of ["queued", "sending", "sent", "failed", "canceled"]) {
        assert.equal(await sent.locator(`td[data-count=${k}]`).textContent(), "0", k);
      }
      assert.equal(await sent.locator("[data-field=segments]").textContent(), "3");
      assert.equal(await sent.locator("[data-field=errors]").textContent(), "none");
      assert.equal(await sent.locator("[data-field=opt-outs]").textContent(), "0");
      // Twilio prices a message minutes after it is sent; until then only the estimate shows.
      assert.match(
        (await sent.locator("[data-field=cost]").textContent())!,
        /^estimated \d+\.\d{4} USD, actual (not reported yet|\d+\.\d{4} USD \(\d priced\))$/,
      );
      assert.equal(await sent.locator("button[data-action]").count(), 0, "no controls when done");
      // What the phones got is what the live preview showed.
      for (const p of people) {
        const got = await sandbox.messages(p.phone);
        assert.deepEqual(got.map((m) => m.body), [expected(p.first)]);
      }
      assert.deepEqual(await sandbox.messages(silent.phone), []);
      const progressShot = await browser.screenshot(page, "campaign-progress");

      // The business's whole opted-in audience at 10:00 in each customer's zone, in two days:
      // previewed only (the first delivery comes at 10:00 in the easternmost zone).
      await page.check("input[name=audience-kind][value=filter]");
      await page.check("input[name=schedule-kind][value=local]");
      const inTwoDays = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
      await page.fill("#schedule-date", inTwoDays);
      await page.fill("#schedule-time", "10:00");
      assert.equal(await press(page, "#campaign-preview"), "preview");
      assert.ok(Number(await page.textContent("#pv-eligible")) >= 3);
      const first = await page.getAttribute("#campaign-result", "data-first-delivery-at") ?? "";
      assert.ok(Date.parse(first) > Date.now() + 12 * 3600_000, first);
      await page.check("input[name=audience-kind][value=ids]");

      // A second campaign, two hours ahead: paused, paused again (refused), then cancelled.
      const later = [await newCustomer("Iris Later"), await newCustomer("Theo Later")];
      await page.waitForFunction(
        (ids) => ids.every((id) => document.getElementById(`aud-${id}`) !== null),
        later.map((p) => p.id),
      );
      await choose(page, later);
      await page.fill("#campaign-name", "Later offer");
      await page.check("input[name=schedule-kind][value=at]");
      // The browser runs in UTC (support.ts), so its local date-time is the UTC one.
      const at = new Date(Date.now() + 2 * 3600_000).toISOString().slice(0, 16);
      await page.fill("#schedule-at", at);
      assert.equal(await press(page, "#campaign-send"), "create");
      const secondId = await page.getAttribute("#campaign-result", "data-campaign-id") ?? "";
      assert.notEqual(secondId, campaignId);
      assert.equal(await campaignStatus(secondId), "scheduled");

      const paused = await control(page, secondId, "pause");
      assert.deepEqual([paused.outcome, paused.code], ["ok", ""], paused.text ?? "");
      assert.equal(await campaignStatus(secondId), "paused");
      const queue = await query((sql) =>
        sql<{ status: string }[]>`
          select status from sms.retry_queue where campaign_id = ${secondId}::uuid`
      );
      assert.deepEqual(queue.map((q) => q.status), ["paused", "paused"]);
      await page.waitForSelector(
        `#campaign-progress article[data-campaign-id="${secondId}"][data-status=paused]`,
      );

      const again = await control(page, secondId, "pause");
      assert.deepEqual([again.outcome, again.code], ["error", "campaign_state_conflict"]);
      assert.match(again.text ?? "", /^campaign_state_conflict \(HTTP 409\)/);

      const cancelled = await control(page, secondId, "cancel");
      assert.equal(cancelled.outcome, "ok", cancelled.text ?? "");
      assert.match(cancelled.text ?? "", /cancelled; 2 messages will not be sent/);
      assert.equal(await campaignStatus(secondId), "cancelled");
      assert.deepEqual((await logsOf(secondId)).map((l) => l.status), ["canceled", "canceled"]);
      const second = await card(page, secondId);
      await page.waitForSelector(
        `#campaign-progress article[data-campaign-id="${secondId}"][data-status=cancelled]`,
      );
      assert.equal(await second.locator("td[data-count=canceled]").textContent(), "2");
      for (const p of later) assert.deepEqual(await sandbox.messages(p.phone), []);

      assert.deepEqual(browser.external, [], "no request left the machine");
      assert.deepEqual(unexpectedErrors(browser), []);
      await keepForReadme(composerShot, "campaign-composer");
      await keepForReadme(progressShot, "campaign-progress");
    } finally {
      await browser.close();
    }
  },
});
