/**
 * The web inbox at `/`: the developer's phone for every number the app texts. Conversations are
 * grouped by handset number; each message shows its body, segments and encoding, and its status
 * timeline as the callbacks go out (with error codes). Controls reply as the phone (STOP, START,
 * HELP or free text, through the signed inbound webhook) and arm a failure for the next message
 * to a number. The page polls `GET /api/conversations`, so it updates without a reload.
 *
 * Self-contained: inline CSS and JS (`inbox-client.js`), a Content-Security-Policy that allows
 * only those and requests to the sandbox itself, because the stack runs with no network.
 * @module
 */
import type { SandboxContext } from "./context.ts";

/** Escapes text for HTML element and attribute content. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const SCRIPT = Deno.readTextFileSync(new URL("./inbox-client.js", import.meta.url));

const STYLE = `
:root { --fg: #1f2933; --muted: #52606d; --line: #d9e2ec; --bg: #f5f7fa; --accent: #1d4ed8;
  --ok: #c6f7e2; --ok-fg: #014d40; --info: #dbeafe; --info-fg: #1e3a8a; --bad: #ffe3e3;
  --bad-fg: #8a041a; --warn: #fff3c4; --warn-fg: #513c06; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: var(--fg);
  background: #fff; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem; z-index: 2; }
.skip:focus { left: .5rem; }
header.top { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: baseline;
  padding: .75rem 1.25rem; border-bottom: 1px solid var(--line); background: var(--bg); }
header.top h1 { font-size: 1.2rem; margin: 0; }
.sub { color: var(--muted); margin: 0; font-size: .85rem; }
#live { margin: 0 0 0 auto; font-size: .85rem; color: var(--muted); }
#live::before { content: ""; display: inline-block; width: .55rem; height: .55rem; border-radius: 50%;
  background: #3ebd93; margin-right: .35rem; vertical-align: .05rem; }
#live.offline::before { background: #e12d39; }
.layout { display: grid; grid-template-columns: minmax(16rem, 22rem) 1fr; min-height: calc(100vh - 3.5rem); }
aside { border-right: 1px solid var(--line); padding: 1rem; background: #fbfcfd; }
h2 { font-size: 1rem; margin: 0 0 .5rem; }
.open { display: flex; gap: .4rem; align-items: end; margin-bottom: .75rem; flex-wrap: wrap; }
.open label, .field label { display: block; font-size: .8rem; color: var(--muted); margin-bottom: .15rem; }
input, select, textarea, button { font: inherit; }
input, select, textarea { padding: .35rem .5rem; border: 1px solid #9aa5b1; border-radius: .3rem;
  background: #fff; color: var(--fg); }
button { padding: .35rem .75rem; border: 1px solid #9aa5b1; border-radius: .3rem; background: #fff;
  color: var(--fg); cursor: pointer; }
button:hover { background: var(--bg); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.primary:hover { background: #1e40af; }
button.danger { border-color: #cf1124; color: #8a041a; }
button[disabled] { opacity: .6; cursor: progress; }
#conversations { list-style: none; margin: 0; padding: 0; display: grid; gap: .35rem; }
.conv { width: 100%; text-align: left; display: grid; gap: .1rem; padding: .5rem .6rem;
  border-radius: .4rem; background: #fff; border: 1px solid var(--line); }
.conv[aria-current="true"] { border-color: var(--accent); background: #eff6ff;
  box-shadow: inset 3px 0 0 var(--accent); }
.conv .row { display: flex; gap: .4rem; align-items: baseline; }
.conv .num { font-weight: 600; font-variant-numeric: tabular-nums; }
.conv time { margin-left: auto; color: var(--muted); font-size: .8rem; }
.conv .snippet { color: var(--muted); font-size: .85rem; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.badge { display: inline-block; font-size: .72rem; padding: .05rem .4rem; border-radius: 1rem;
  background: var(--bg); color: var(--muted); border: 1px solid var(--line); white-space: nowrap; }
.badge.bad { background: var(--bad); color: var(--bad-fg); border-color: #ffbdbd; }
.badge.warn { background: var(--warn); color: var(--warn-fg); border-color: #f7d070; }
main#conversation { padding: 1rem 1.25rem 2rem; min-width: 0; }
.thread-head { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: .5rem; }
.thread-head h2 { margin: 0; font-size: 1.1rem; }
#thread { list-style: none; margin: 0 0 1rem; padding: .75rem; display: grid; gap: .75rem;
  background: var(--bg); border: 1px solid var(--line); border-radius: .5rem; max-height: 60vh;
  overflow: auto; }
.msg { max-width: 44rem; display: grid; gap: .25rem; }
.msg.in { justify-self: end; text-align: right; }
.who { font-size: .75rem; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.bubble { display: inline-block; justify-self: start; white-space: pre-wrap; overflow-wrap: anywhere;
  padding: .5rem .75rem; border-radius: 1rem 1rem 1rem .25rem; background: #fff;
  border: 1px solid var(--line); text-align: left; }
.msg.in .bubble { justify-self: end; background: #2563eb; color: #fff; border-color: #2563eb;
  border-radius: 1rem 1rem .25rem 1rem; }
.bubble.auto { background: #fff; border-style: dashed; }
.meta { margin: 0; font-size: .8rem; color: var(--muted); }
.meta strong { color: var(--fg); font-weight: 600; }
.chip { display: inline-block; padding: 0 .4rem; border-radius: .25rem; background: #e4e7eb;
  font-size: .78rem; font-weight: 600; }
.chip.delivered, .chip.received, .chip.ok { background: var(--ok); color: var(--ok-fg); }
.chip.sent { background: var(--info); color: var(--info-fg); }
.chip.undelivered, .chip.failed, .chip.bad { background: var(--bad); color: var(--bad-fg); }
.timeline { list-style: none; margin: .1rem 0 0; padding: 0 0 0 .75rem; border-left: 2px solid var(--line);
  font-size: .8rem; display: grid; gap: .1rem; }
.timeline time { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: .35rem; }
.msg.refused { justify-self: stretch; max-width: none; }
.refusal { margin: 0; padding: .4rem .6rem; border-radius: .4rem; background: var(--bad);
  color: var(--bad-fg); font-size: .85rem; }
.empty { color: var(--muted); }
.controls { display: grid; grid-template-columns: repeat(auto-fit, minmax(19rem, 1fr)); gap: 1rem; }
fieldset { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem 1rem; margin: 0; }
legend { font-weight: 600; padding: 0 .25rem; }
.quick { display: flex; gap: .4rem; flex-wrap: wrap; margin-bottom: .6rem; }
.field { margin-bottom: .5rem; }
.field input, .field select { width: 100%; }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
.result { margin: .6rem 0 0; font-size: .85rem; min-height: 1.2em; }
.result.bad { color: var(--bad-fg); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .8rem; }
@media (max-width: 760px) { .layout { grid-template-columns: 1fr; }
  aside { border-right: 0; border-bottom: 1px solid var(--line); } }
`;

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

// Only the inline script and style below may run; fetches go to the sandbox only.
const CSP = [
  "default-src 'none'",
  `script-src 'sha256-${await sha256Base64(SCRIPT)}'`,
  `style-src 'sha256-${await sha256Base64(STYLE)}'`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The inbox page. Everything dynamic is fetched and rendered (as text) by the page itself. */
export function inboxPage(ctx: SandboxContext, _url: URL): Response {
  const numbers = escapeHtml(ctx.phoneNumbers.join(", "));
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>SMS inbox · Twilio sandbox</title>
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head><body>
<a class="skip" href="#conversation">Skip to the conversation</a>
<header class="top">
  <h1>SMS inbox</h1>
  <p class="sub">Twilio sandbox · account <span class="mono">${
    escapeHtml(ctx.accountSid)
  }</span> · sending numbers ${numbers} · JSON: <a href="/api/conversations">/api/conversations</a>,
  <a href="/api/messages">/api/messages</a>, <a href="/api/inbound">/api/inbound</a></p>
  <p id="live" role="status">Connecting…</p>
</header>
<div class="layout">
  <aside aria-labelledby="conversations-heading">
    <h2 id="conversations-heading">Conversations</h2>
    <form class="open" id="open-form">
      <div><label for="open-number">Phone number</label>
      <input id="open-number" name="number" inputmode="tel" autocomplete="off"
        placeholder="+12125550123" pattern="\\+[1-9][0-9]{1,14}" required size="16"></div>
      <button type="submit">Open</button>
    </form>
    <ul id="conversations" aria-label="Conversations by phone number"></ul>
    <p id="no-conversations" class="empty" hidden>No messages yet. Send one from the app (or the
      demo page) and it shows up here.</p>
  </aside>
  <main id="conversation" tabindex="-1" aria-labelledby="thread-heading">
    <div class="thread-head">
      <h2 id="thread-heading">No conversation selected</h2>
      <span id="thread-badges"></span>
    </div>
    <p id="thread-hint" class="empty">Pick a conversation, or open a phone number to reply from it.</p>
    <ol id="thread" aria-label="Messages" hidden></ol>
    <div class="controls" id="controls" hidden>
      <form id="reply-form">
        <fieldset>
          <legend>Reply as the phone</legend>
          <div class="quick">
            <button type="button" data-reply="STOP">Reply STOP</button>
            <button type="button" data-reply="START">Reply START</button>
            <button type="button" data-reply="HELP">Reply HELP</button>
          </div>
          <div class="field"><label for="reply-body">Message</label>
            <input id="reply-body" name="body" maxlength="1600" autocomplete="off"
              placeholder="Any reply, e.g. Thanks! or stop texting me"></div>
          <div class="field"><label for="reply-to">To (the app's number)</label>
            <select id="reply-to" name="to"></select></div>
          <div class="actions"><button type="submit" class="primary">Send reply</button></div>
          <p id="reply-result" class="result" role="status" aria-live="polite"></p>
        </fieldset>
      </form>
      <form id="fail-form">
        <fieldset>
          <legend>Make the next message to this number fail</legend>
          <div class="field"><label for="fail-code">Twilio error</label>
            <select id="fail-code" name="code"></select></div>
          <div class="actions">
            <button type="submit">Arm failure</button>
            <button type="button" id="fail-cancel" class="danger" hidden>Cancel armed failure</button>
          </div>
          <p id="fail-state" class="result" role="status" aria-live="polite"></p>
        </fieldset>
      </form>
    </div>
  </main>
</div>
<noscript><p>The inbox needs JavaScript; the same data is at <a href="/api/conversations">/api/conversations</a>.</p></noscript>
<script>${SCRIPT}</script>
</body></html>`;
  return new Response(body, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": CSP,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}
