/**
 * The demo pages' HTML: `/`, a form to send one SMS as a seeded user, with the live counter and
 * the typed result; `/campaign`, the campaign composer and its progress. The behaviour is in
 * app.ts and campaign.ts (bundled to /app.js); styles are inline.
 * @module
 */

/** The snippet the page shows: what an app's frontend writes to send an SMS. */
export const SNIPPET = `import { createClient } from "@supabase/supabase-js";
import { measureMessage } from "@shared/contract/message-limits.ts";
import { sendSms } from "@shared/contract/client.ts";

const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY); // signed in as a member

// Live counter: the same numbers send-sms uses to accept or refuse the body.
const { characters, segments, encoding, withinLimits } = measureMessage(body);

// Validates like the function, then supabase.functions.invoke("send-sms", …).
const r = await sendSms(supabase, { customerId, body });
if (r.ok && r.data.status === "sent") showSent(r.data.providerMessageId, r.data.segments);
else if (r.ok) showDeferred(r.data.reason, r.data.scheduledFor); // quiet hours, cap, outage
else showError(r.error.code, r.error.message); // opted_out, no_consent, message_too_long…`;

/** The page's stylesheet (allowed by hash in the CSP). */
export const STYLE = `
:root { --fg: #1f2933; --muted: #52606d; --line: #d9e2ec; --bg: #f5f7fa; --accent: #1d4ed8; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: var(--fg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
header { padding: .9rem 1.5rem; border-bottom: 1px solid var(--line); background: var(--bg); }
h1 { font-size: 1.25rem; margin: 0; }
header p { margin: .2rem 0 0; color: var(--muted); font-size: .9rem; }
main { display: grid; grid-template-columns: minmax(20rem, 34rem) minmax(18rem, 1fr); gap: 1.5rem;
  padding: 1.25rem 1.5rem 2rem; }
h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
h3 { font-size: .95rem; margin: 1rem 0 .4rem; }
h3.label { font-size: .9rem; margin: 0 0 .2rem; }
.field { margin-bottom: .9rem; }
label { display: block; font-weight: 600; font-size: .9rem; margin-bottom: .2rem; }
select, textarea, input, button { font: inherit; }
select, textarea, input { width: 100%; padding: .4rem .55rem; border: 1px solid #9aa5b1;
  border-radius: .3rem; background: #fff; color: var(--fg); }
textarea { resize: vertical; min-height: 7rem; }
.hint { margin: .25rem 0 0; font-size: .82rem; color: var(--muted); }
.row { display: flex; gap: .5rem; }
.row input { flex: 1; }
button { padding: .45rem .9rem; border: 1px solid #9aa5b1; border-radius: .3rem; background: #fff;
  cursor: pointer; color: var(--fg); white-space: nowrap; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
button[disabled] { opacity: .6; cursor: progress; }
#counter { margin: .3rem 0 0; font-size: .85rem; color: var(--muted); font-variant-numeric: tabular-nums; }
#counter span[id] { color: var(--fg); font-weight: 600; }
#counter.over, #counter.over .limit { color: #8a041a; }
.panel { border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; background: #fff; }
.headline { margin: 0 0 .6rem; padding: .5rem .7rem; border-radius: .4rem; background: var(--bg); }
.headline.ok { background: #c6f7e2; color: #014d40; }
.headline.warn { background: #fff3c4; color: #513c06; }
.headline.bad { background: #ffe3e3; color: #8a041a; }
pre { margin: 0; padding: .7rem; background: #102a43; color: #f0f4f8; border-radius: .4rem;
  overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; font: .8rem/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; }
#history { padding-left: 1.2rem; font-size: .88rem; color: var(--muted); }
#history time { font-variant-numeric: tabular-nums; }
section + section, #history-block { margin-top: 1.25rem; }
#campaign h2 { margin-top: 0; }
fieldset { border: 0; padding: 0; margin: 0 0 .9rem; }
legend { font-weight: 600; font-size: .9rem; margin-bottom: .2rem; padding: 0; }
label.check, label.inline { display: block; font-weight: 400; margin: .1rem 0; }
label.check input, label.inline input[type=radio] { width: auto; margin-right: .35rem; }
label.inline input:not([type=radio]) { width: auto; display: inline-block; }
#audience-list { max-height: 11rem; overflow: auto; border: 1px solid var(--line);
  border-radius: .3rem; padding: .3rem .55rem; margin: .3rem 0; }
button.insert { padding: .1rem .4rem; font: .8rem ui-monospace, SFMono-Regular, Menlo, monospace; }
#template-check[data-ok=false] { color: #8a041a; font-weight: 600; }
#live-preview { padding-left: 1.2rem; margin: .3rem 0 0; font-size: .88rem; }
#live-preview li { margin-bottom: .5rem; }
.sms { display: block; padding: .35rem .55rem; background: #e0e8f9; border-radius: .6rem;
  margin: .15rem 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.facts { color: var(--muted); font-size: .82rem; font-variant-numeric: tabular-nums; }
dl.figures { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
dl.figures dt { font-weight: 600; }
dl.figures dd { margin: 0; font-variant-numeric: tabular-nums; }
dl.figures ul { margin: 0; padding-left: 1.1rem; }
article.campaign { border: 1px solid var(--line); border-radius: .5rem; padding: .7rem .9rem;
  margin-bottom: .7rem; }
article.campaign h3 { font-size: .98rem; margin: 0; }
.status { font-size: .78rem; padding: .05rem .45rem; border-radius: 1rem; background: var(--bg); }
.status.running, .status.done { background: #c6f7e2; color: #014d40; }
.status.paused, .status.scheduled { background: #fff3c4; color: #513c06; }
.status.cancelled { background: #ffe3e3; color: #8a041a; }
table.counts { border-collapse: collapse; margin: .4rem 0; font-size: .85rem; }
table.counts th, table.counts td { border: 1px solid var(--line); padding: .15rem .5rem;
  text-align: center; font-variant-numeric: tabular-nums; }
table.counts th { font-weight: 600; color: var(--muted); }
.controls { margin-top: .4rem; }
#campaign-control-result:empty { display: none; }
@media (max-width: 820px) { main { grid-template-columns: 1fr; } }
`;

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Both pages' head: one stylesheet, one script (app.js picks the page by its path). */
function pageHead(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escape(title)} · local stack</title>
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style>
<script type="module" src="/app.js"></script>
</head><body>`;
}

/** The page; `inboxUrl` is the SMS inbox it links to. */
export function demoPage(inboxUrl: string): string {
  return `${pageHead("send-sms demo")}
<header>
  <h1>send-sms demo</h1>
  <p>The frontend side of the SMS channel: supabase-js and the common module running in this page.
  Messages go to the local Twilio sandbox; watch them in the
  <a id="inbox-link" href="${escape(inboxUrl)}/">SMS inbox</a>. To text many customers at once:
  the <a href="/campaign">campaign composer</a>.</p>
</header>
<main>
  <section aria-labelledby="send-heading">
    <h2 id="send-heading">Send an SMS</h2>
    <form id="send-form" class="panel" novalidate>
      <div class="field">
        <label for="user">Signed-in user</label>
        <select id="user" name="user"></select>
        <p class="hint">A seeded user. The local stack hands this page their access token; a real
        app gets it from supabase.auth.</p>
      </div>
      <div class="field">
        <label for="customer">Customer</label>
        <select id="customer" name="customer" aria-describedby="customer-info"></select>
        <p class="hint" id="customer-info">Loading…</p>
      </div>
      <div class="field">
        <label for="body">Message</label>
        <textarea id="body" name="body" rows="5" aria-describedby="counter"
          placeholder="Thanks for choosing us! How did we do? Reply STOP to opt out."></textarea>
        <p id="counter" aria-live="polite"></p>
      </div>
      <div class="field">
        <label for="idempotency">Idempotency key (optional)</label>
        <div class="row">
          <input id="idempotency" name="idempotencyKey" autocomplete="off"
            aria-describedby="idempotency-hint">
          <button type="button" id="new-key">New key</button>
        </div>
        <p class="hint" id="idempotency-hint">Send twice with the same key: one SMS, the same
        answer.</p>
      </div>
      <button type="submit" id="send" class="primary" disabled>Send SMS</button>
    </form>
  </section>
  <div>
    <section aria-labelledby="result-heading">
      <h2 id="result-heading">Result</h2>
      <div id="result" class="panel" role="status" aria-live="polite" data-outcome="none">
        <p>Nothing sent yet.</p>
      </div>
      <div id="history-block" hidden>
        <h2 id="history-heading">Earlier in this page</h2>
        <ol id="history" aria-labelledby="history-heading"></ol>
      </div>
    </section>
    <section aria-labelledby="code-heading">
      <h2 id="code-heading">The code</h2>
      <pre><code>${escape(SNIPPET)}</code></pre>
    </section>
  </div>
</main>
</body></html>`;
}

/** The campaign page; `inboxUrl` is the SMS inbox it links to. */
export function campaignPage(inboxUrl: string): string {
  return `${pageHead("campaigns demo")}
<header>
  <h1>campaigns demo</h1>
  <p>One template, many customers: checked and rendered here with the common module, previewed,
  sent and followed through the campaigns function. Messages go to the local Twilio sandbox; watch
  them in the <a id="inbox-link" href="${escape(inboxUrl)}/">SMS inbox</a>. Back to the
  <a href="/">single send</a>.</p>
</header>
<main id="campaign">
  <section aria-labelledby="campaign-heading">
  <h2 id="campaign-heading">Compose a campaign</h2>
  <form id="campaign-form" class="panel" novalidate>
    <div class="field">
      <label for="user">Signed-in user</label>
      <select id="user" name="user"></select>
      <p class="hint">A seeded user, as on the send page; the composer calls
      <code>campaigns(supabase, …)</code> with their token.</p>
    </div>
    <div class="field">
      <label for="campaign-business">Business</label>
      <select id="campaign-business" name="business"></select>
    </div>
    <div class="field">
      <label for="campaign-name">Name</label>
      <input id="campaign-name" name="name" value="Spring offer" autocomplete="off">
    </div>
    <div class="field">
      <label for="template">Template</label>
      <textarea id="template" name="template" rows="4" aria-describedby="template-check"
        placeholder="Hi {{first_name|there}}, 20% off all drain cleaning this week."></textarea>
      <p class="hint">Insert: <span id="template-variables"></span>
      A fallback after a bar: <code>{{first_name|there}}</code>.</p>
      <p class="hint" id="template-check" aria-live="polite"></p>
    </div>
    <fieldset>
      <legend>Audience</legend>
      <label class="inline"><input type="radio" name="audience-kind" value="ids" checked>
        These customers</label>
      <label class="inline"><input type="radio" name="audience-kind" value="filter">
        All opted-in customers (filter)</label>
      <div id="audience-list" role="group" aria-label="Customers"></div>
      <div class="row">
        <button type="button" id="audience-all">Select all reachable</button>
        <button type="button" id="audience-none">None</button>
      </div>
    </fieldset>
    <fieldset>
      <legend>Schedule</legend>
      <label class="inline"><input type="radio" name="schedule-kind" value="now" checked>
        Now</label>
      <label class="inline"><input type="radio" name="schedule-kind" value="at"> At
        <input type="datetime-local" id="schedule-at" aria-label="Start at (this browser's time)">
        (this browser's time)</label>
      <label class="inline"><input type="radio" name="schedule-kind" value="local"> At
        <input type="time" id="schedule-time" value="10:00" aria-label="Local time of day">
        each recipient's local time on
        <input type="date" id="schedule-date" aria-label="Date"></label>
      <p class="hint">Quiet hours, frequency caps and the expiry are applied per recipient.</p>
    </fieldset>
    <div class="field">
      <h3 class="label">Live preview</h3>
      <ol id="live-preview" aria-live="polite"></ol>
    </div>
    <div class="row">
      <button type="button" id="campaign-preview" disabled>Preview</button>
      <button type="submit" id="campaign-send" class="primary" disabled>Send campaign</button>
    </div>
  </form>
  </section>
  <div>
    <h2>Preview and result</h2>
    <div id="campaign-result" class="panel" role="status" aria-live="polite"
      data-outcome="none"><p>Press Preview to see who gets what, when and at what cost.</p></div>
    <h2>Progress</h2>
    <p id="campaign-control-result" role="status" aria-live="polite"></p>
    <div id="campaign-progress"><p class="hint">Loading…</p></div>
  </div>
</main>
</body></html>`;
}
