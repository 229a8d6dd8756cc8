/**
 * The web inbox at `/`: every message the sandbox handled, newest first, and a form to simulate
 * an inbound reply. Self-contained (inline CSS and JS) because the stack runs with no network.
 * @module
 */
import type { SandboxContext } from "./context.ts";
import { html } from "./responses.ts";
import type { StoredMessage } from "./store.ts";

/** Escapes text for HTML element and attribute content. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The full page, or only the table when `?fragment=messages` (used by the page's refresh). */
export function inboxPage(ctx: SandboxContext, url: URL): Response {
  const table = renderTable(ctx.store.all().reverse());
  if (url.searchParams.get("fragment") === "messages") return html(table);
  const numbers = ctx.phoneNumbers.map((n) => `<option>${escapeHtml(n)}</option>`).join("");
  return html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Twilio sandbox inbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1f2933; }
h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
.muted { color: #616e7c; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
th { background: #f5f7fa; font-weight: 600; }
td.body { white-space: pre-wrap; max-width: 32rem; overflow-wrap: anywhere; }
.status { padding: .1rem .4rem; border-radius: .25rem; background: #e4e7eb; }
.delivered, .received { background: #c6f7e2; } .sent { background: #d9e8ff; }
.undelivered, .failed { background: #ffd8d8; }
form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: end; margin-top: 1rem; }
label { display: flex; flex-direction: column; font-size: .85rem; }
input, select, button { font: inherit; padding: .3rem .45rem; }
#answer { white-space: pre-wrap; background: #f5f7fa; padding: .5rem; margin-top: .5rem; }
</style></head><body>
<h1>Twilio sandbox</h1>
<div class="muted">Account ${escapeHtml(ctx.accountSid)} · numbers ${
    escapeHtml(ctx.phoneNumbers.join(", "))
  } · JSON at <a href="/api/messages">/api/messages</a>, <a href="/api/config">/api/config</a></div>
<form id="inbound">
  <label>From (handset)<input name="from" placeholder="+15551234567" required></label>
  <label>To<select name="to">${numbers}</select></label>
  <label>Body<input name="body" placeholder="STOP, HELP or any reply" size="40"></label>
  <button>Simulate inbound reply</button>
</form>
<div id="answer" hidden></div>
<div id="messages">${table}</div>
<script>
const form = document.getElementById("inbound");
const answer = document.getElementById("answer");
async function refresh() {
  const res = await fetch("/?fragment=messages");
  if (res.ok) document.getElementById("messages").innerHTML = await res.text();
}
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = Object.fromEntries(new FormData(form));
  const res = await fetch("/api/inbound", { method: "POST", body: JSON.stringify(data) });
  answer.hidden = false;
  answer.textContent = res.status + " " + await res.text();
  refresh();
});
setInterval(refresh, 2000);
</script>
</body></html>`);
}

function renderTable(messages: StoredMessage[]): string {
  if (messages.length === 0) return `<p class="muted">No messages yet.</p>`;
  const rows = messages.map((m) => {
    const callbacks = m.timeline
      .flatMap((t) => t.callback ? [{ ...t, callback: t.callback }] : [])
      .map((t) => {
        const outcome = t.callback.httpStatus ?? t.callback.error;
        return escapeHtml(`${t.status}${t.duplicate ? " (dup)" : ""} → ${outcome}`);
      })
      .join("<br>");
    return `<tr>
<td>${escapeHtml(m.dateCreated.toISOString().replace("T", " ").slice(0, 19))}</td>
<td>${m.direction === "inbound" ? "⬅ in" : "➡ out"}</td>
<td>${escapeHtml(m.from ?? "")}</td><td>${escapeHtml(m.to)}</td>
<td class="body">${escapeHtml(m.body)}</td>
<td>${m.numSegments} (${escapeHtml(m.encoding)})</td>
<td><span class="status ${escapeHtml(m.status)}">${escapeHtml(m.status)}</span>${
      m.errorCode ? ` ${m.errorCode}` : ""
    }</td>
<td>${callbacks}</td>
<td class="muted">${escapeHtml(m.sid)}</td></tr>`;
  }).join("\n");
  return `<table><thead><tr><th>Created (UTC)</th><th>Dir</th><th>From</th><th>To</th><th>Body</th>
<th>Segments</th><th>Status</th><th>Callbacks / webhook</th><th>SID</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}
