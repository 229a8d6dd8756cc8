// The inbox page's script, inlined into the page by inbox.ts (no external files, no network but
// the sandbox). It polls GET /api/conversations, renders everything as text (never as HTML), and
// drives the reply and fail-next controls through the sandbox's JSON API.
"use strict";
(() => {
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);
  const live = $("live");
  const list = $("conversations");
  const thread = $("thread");
  const replyTo = $("reply-to");
  const failCode = $("fail-code");
  const replyResult = $("reply-result");
  const failState = $("fail-state");

  /** @type {any} */
  let view = null;
  let lastText = "";
  let selected = decodeURIComponent(location.hash.slice(1)) || null;
  let choseOnce = selected !== null;
  let timer = 0;

  /** Builds an element: h("span", { class: "x" }, "text", child…). Text is always text. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(
        typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c,
      );
    }
    return el;
  }

  const pad = (n, w = 2) => String(n).padStart(w, "0");
  function clock(iso, ms) {
    const d = new Date(iso);
    const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return ms ? `${t}.${pad(d.getMilliseconds(), 3)}` : t;
  }
  const timeEl = (iso, ms) => h("time", { datetime: iso, title: iso }, clock(iso, ms));
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  const chars = (text) => [...text].length;

  function codeText(code, label) {
    return label ? `${code} ${label}` : String(code);
  }

  function callbackText(cb) {
    if (!cb) return null;
    if (cb.httpStatus !== null) return `callback → HTTP ${cb.httpStatus} (${cb.durationMs} ms)`;
    return `callback failed: ${cb.error}`;
  }

  function renderOutbound(m) {
    const steps = m.timeline.map((t, i) => {
      const parts = [t.status];
      if (t.duplicate) parts.push("(re-delivery)");
      if (t.errorCode !== null) parts.push(`· ErrorCode ${t.errorCode}`);
      let tail;
      if (i === 0) tail = "created (HTTP 201)";
      else if (t.dropped) tail = "callback lost (sandbox config)";
      else if (t.callback) tail = callbackText(t.callback);
      else tail = "no StatusCallback";
      const bad = t.callback && (t.callback.httpStatus === null || t.callback.httpStatus >= 400);
      return h(
        "li",
        { class: bad ? "bad" : null },
        timeEl(t.at, true),
        h("span", { class: `chip ${t.status}` }, parts.join(" ")),
        " ",
        tail,
      );
    });
    const error = m.errorCode !== null
      ? h("span", { class: "chip bad" }, `error ${codeText(m.errorCode, m.errorMessage)}`)
      : null;
    return h(
      "li",
      { class: "msg out", dataset: { sid: m.sid, kind: "outbound" } },
      h("span", { class: "who" }, "App → phone · ", timeEl(m.at)),
      h("div", { class: "bubble" }, m.body),
      h(
        "p",
        { class: "meta" },
        h("strong", { class: "segments" }, plural(m.segments, "segment", "segments")),
        " · ",
        h("strong", { class: "encoding" }, m.encoding),
        ` · ${plural(chars(m.body), "character", "characters")} · from ${m.from ?? "(service)"} · `,
        h("span", { class: "mono" }, m.sid),
      ),
      h(
        "p",
        { class: "meta" },
        "Status ",
        h("span", { class: `chip status ${m.status}` }, m.status),
        " ",
        error,
      ),
      h("ol", { class: "timeline", "aria-label": "Status timeline" }, steps),
    );
  }

  function renderInbound(m) {
    let webhook;
    if (!m.webhook) webhook = "webhook: waiting for the answer…";
    else if (m.webhook.httpStatus !== null) {
      webhook = h(
        "span",
        {},
        "webhook → ",
        h(
          "span",
          { class: `chip ${m.webhook.httpStatus < 300 ? "ok" : "bad"}` },
          `HTTP ${m.webhook.httpStatus}`,
        ),
        ` (${m.webhook.durationMs} ms)`,
      );
    } else webhook = h("span", { class: "chip bad" }, `webhook unreachable: ${m.webhook.error}`);
    const item = h(
      "li",
      { class: "msg in", dataset: { sid: m.sid, kind: "inbound" } },
      h("span", { class: "who" }, "Phone → app · ", timeEl(m.at)),
      h("div", { class: "bubble" }, m.body),
      h(
        "p",
        { class: "meta" },
        `to ${m.to} · ${plural(m.segments, "segment", "segments")} · ${m.encoding}`,
        m.keyword ? ` · Twilio keyword ${m.keyword}` : "",
        " · ",
        webhook,
      ),
    );
    const replies = m.replies.map((text) =>
      h(
        "li",
        { class: "msg out auto", dataset: { kind: "reply" } },
        h("span", { class: "who" }, "App → phone · webhook reply (TwiML)"),
        h("div", { class: "bubble auto" }, text),
      )
    );
    return [item, ...replies];
  }

  function renderRefused(a) {
    const what = a.outcome === "timeout"
      ? "Send attempt dropped"
      : `Send refused by Twilio${a.httpStatus ? ` (HTTP ${a.httpStatus})` : ""}`;
    return h(
      "li",
      { class: "msg refused", dataset: { kind: "refused" } },
      h(
        "p",
        { class: "refusal" },
        timeEl(a.at),
        ` ${what}`,
        a.code !== null ? `: ${codeText(a.code, a.description)}` : "",
        a.code === null && a.description ? `: ${a.description}` : "",
        " — no message was created.",
      ),
    );
  }

  function conversationFor(number) {
    return view?.conversations.find((c) => c.number === number) ?? null;
  }

  function badges(c) {
    const out = [];
    if (c && c.optedOutFrom.length) {
      out.push(
        h(
          "span",
          { class: "badge bad", title: "Twilio refuses sends (21610) until START" },
          "opted out",
        ),
      );
    }
    if (c && c.failNext) {
      out.push(h("span", { class: "badge warn" }, `next fails ${c.failNext.code}`));
    }
    return out;
  }

  function snippet(c) {
    const last = c.items.at(-1);
    if (!last) return c.failNext ? "failure armed, no messages yet" : "no messages yet";
    if (last.kind === "refused") return `refused: ${last.code ?? last.outcome}`;
    return (last.kind === "inbound" ? "↩ " : "") + last.body.replace(/\s+/g, " ");
  }

  function renderList() {
    const focused = document.activeElement?.closest?.("#conversations button")?.dataset.number;
    const convs = [...(view?.conversations ?? [])];
    if (selected && !convs.some((c) => c.number === selected)) {
      convs.unshift({
        number: selected,
        optedOutFrom: [],
        failNext: null,
        lastAt: null,
        items: [],
        omittedItems: 0,
      });
    }
    list.replaceChildren(...convs.map((c) => {
      const counts = c.items.filter((i) => i.kind !== "refused").length;
      return h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "conv",
            dataset: { number: c.number },
            "aria-current": c.number === selected ? "true" : null,
          },
          h(
            "span",
            { class: "row" },
            h("span", { class: "num" }, c.number),
            ...badges(c),
            c.lastAt ? timeEl(c.lastAt) : null,
          ),
          h("span", { class: "snippet" }, `${snippet(c)}`),
          h("span", { class: "sub" }, plural(counts, "message", "messages")),
        ),
      );
    }));
    if (view?.omittedConversations) {
      list.append(
        h("li", { class: "empty" }, `${view.omittedConversations} older conversations not shown`),
      );
    }
    $("no-conversations").hidden = convs.length > 0;
    if (focused) list.querySelector(`button[data-number="${CSS.escape(focused)}"]`)?.focus();
  }

  function renderThread() {
    const c = selected ? conversationFor(selected) : null;
    $("thread-heading").textContent = selected ?? "No conversation selected";
    $("thread-badges").replaceChildren(...badges(c));
    $("thread-hint").hidden = selected !== null;
    $("controls").hidden = selected === null;
    thread.hidden = selected === null;
    if (!selected) return;
    const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
    const items = c?.items ?? [];
    const nodes = items.flatMap((item) =>
      item.kind === "outbound"
        ? [renderOutbound(item)]
        : item.kind === "inbound"
        ? renderInbound(item)
        : [renderRefused(item)]
    );
    if (c?.omittedItems) {
      nodes.unshift(h("li", { class: "empty" }, `${c.omittedItems} older items not shown`));
    }
    if (nodes.length === 0) {
      nodes.push(h("li", { class: "empty" }, "Nothing yet for this number."));
    }
    const before = thread.childElementCount;
    thread.replaceChildren(...nodes);
    if (atBottom || nodes.length !== before) thread.scrollTop = thread.scrollHeight;

    if (c?.failNext) {
      const f = c.failNext;
      failState.textContent = `Armed: the next message to ${selected} fails with ${f.code} ` +
        `(${f.label}; ${f.kind === "rejected" ? "refused when sent" : f.kind}).`;
      $("fail-cancel").hidden = false;
    } else {
      failState.textContent = "No failure armed for this number.";
      $("fail-cancel").hidden = true;
    }
    // Reply to the number that last texted this phone, as a phone's reply would.
    const lastFrom = items.filter((i) => i.kind === "outbound" && i.from).at(-1)?.from;
    if (lastFrom && replyTo.dataset.userChose !== selected) replyTo.value = lastFrom;
  }

  function fillSelects() {
    if (replyTo.options.length === 0) {
      replyTo.replaceChildren(...view.phoneNumbers.map((n) => h("option", { value: n }, n)));
    }
    if (failCode.options.length === 0) {
      const groups = [
        ["rejected", "Refused when sent (REST API error)"],
        ["undelivered", "Sent, then undelivered (status callback)"],
        ["failed", "Failed, never sent (status callback)"],
      ];
      failCode.replaceChildren(...groups.map(([kind, label]) =>
        h(
          "optgroup",
          { label },
          view.failNextCodes.filter((c) => c.kind === kind).map((c) =>
            h("option", { value: c.code }, `${c.code} — ${c.label}`)
          ),
        )
      ));
    }
  }

  function render() {
    if (!view) return;
    if (!choseOnce && !selected && view.conversations.length > 0) {
      selected = view.conversations[0].number;
    }
    fillSelects();
    renderList();
    renderThread();
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const res = await fetch("/api/conversations", { cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      live.className = "";
      live.textContent = `Live · updated ${clock(new Date().toISOString())}`;
      if (text !== lastText) {
        lastText = text;
        view = JSON.parse(text);
        render();
      }
    } catch (e) {
      live.className = "offline";
      live.textContent = `Sandbox unreachable (${e.message}); retrying…`;
    }
    timer = setTimeout(refresh, POLL_MS);
  }

  function select(number, focusThread) {
    selected = number;
    choseOnce = true;
    if (decodeURIComponent(location.hash.slice(1)) !== number) {
      history.replaceState(null, "", `#${encodeURIComponent(number)}`);
    }
    replyResult.textContent = "";
    replyResult.className = "result";
    render();
    if (focusThread) $("conversation").focus();
  }

  async function postJson(path, body) {
    const res = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await res.json();
    } catch {
      // not JSON
    }
    return { ok: res.ok, status: res.status, data };
  }

  /** What the webhook's answer says, in a few words (the thread shows TwiML replies in full). */
  function answerSummary(answer) {
    const text = answer.body ?? "";
    if (/xml/i.test(answer.contentType ?? "") || text.trimStart().startsWith("<")) {
      const doc = new DOMParser().parseFromString(text, "text/xml");
      if (doc.querySelector("parsererror")) return ` · ${text.slice(0, 200)}`;
      const n = doc.getElementsByTagName("Message").length;
      return n === 0
        ? " · TwiML, no reply to the phone"
        : ` · TwiML texting back ${n === 1 ? "one message" : `${n} messages`} (in the thread)`;
    }
    return text ? ` · ${text.slice(0, 200)}` : "";
  }

  async function reply(body, button) {
    if (!selected) return;
    const buttons = document.querySelectorAll("#reply-form button");
    buttons.forEach((b) => (b.disabled = true));
    replyResult.className = "result";
    replyResult.textContent = `Sending “${body}” from ${selected}…`;
    try {
      const r = await postJson("/api/inbound", { from: selected, to: replyTo.value, body });
      if (r.ok) {
        replyResult.className = r.data.status < 300 ? "result" : "result bad";
        replyResult.textContent = `Webhook answered HTTP ${r.data.status}${answerSummary(r.data)}`;
      } else {
        replyResult.className = "result bad";
        replyResult.textContent = `Not delivered: ${r.data?.error?.message ?? `HTTP ${r.status}`}`;
      }
    } catch (e) {
      replyResult.className = "result bad";
      replyResult.textContent = `Sandbox unreachable: ${e.message}`;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      button?.focus();
      await refresh();
    }
  }

  async function setFailNext(code) {
    if (!selected) return;
    const current = await (await fetch("/api/config", { cache: "no-store" })).json();
    const failNext = { ...current.failNext };
    if (code === null) delete failNext[selected];
    else failNext[selected] = code;
    const r = await postJson("/api/config", { failNext });
    if (!r.ok) {
      failState.textContent = `Could not update: ${r.data?.error?.message ?? r.status}`;
    }
    await refresh();
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-number]");
    if (button) select(button.dataset.number, false);
  });
  $("open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("open-number");
    const number = input.value.replace(/[\s().-]/g, "");
    if (!/^\+[1-9]\d{1,14}$/.test(number)) {
      input.setCustomValidity("An E.164 number, e.g. +12125550123");
      input.reportValidity();
      return;
    }
    input.value = "";
    select(number, false);
    $("reply-body").focus();
  });
  $("open-number").addEventListener("input", (e) => e.target.setCustomValidity(""));
  document.querySelectorAll("[data-reply]").forEach((b) =>
    b.addEventListener("click", () => reply(b.dataset.reply, b))
  );
  $("reply-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("reply-body");
    const body = input.value;
    if (body.trim() === "") {
      input.focus();
      return;
    }
    input.value = "";
    reply(body, input);
  });
  replyTo.addEventListener("change", () => (replyTo.dataset.userChose = selected ?? ""));
  $("fail-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setFailNext(Number(failCode.value));
  });
  $("fail-cancel").addEventListener("click", () => {
    setFailNext(null).then(() => failCode.focus());
  });
  addEventListener("hashchange", () => {
    const number = decodeURIComponent(location.hash.slice(1));
    if (number && number !== selected) select(number, false);
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
  refresh();
})();
