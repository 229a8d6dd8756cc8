/// <reference lib="dom" />
/**
 * The demo page's script, bundled for the browser (see bundle.ts): the frontend side of
 * send-sms. It signs in as a seeded user (the local stack hands the page their token), counts
 * characters, segments and encoding live with the common module's `measureMessage`, and sends
 * through `sendSms(supabase, …)`, which validates exactly as the function does and returns a
 * typed result or a typed error. On `/campaign` it runs the campaign composer (campaign.ts) instead,
 * with the same user, token and customer list.
 * @module
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { measureMessage } from "@shared/contract/message-limits.ts";
import { sendSms, type SendSmsOutcome } from "@shared/contract/client.ts";
import { startComposer } from "./campaign.ts";
import { $, el, plural } from "./dom.ts";

/** `GET /api/session` of the demo server. */
interface Session {
  apiUrl: string;
  anonKey: string;
  inboxUrl: string;
  users: { email: string; name: string | null; businesses: string[]; accessToken: string }[];
}

/** `GET /api/customers?user=` of the demo server: what the user may see (RLS). */
interface Customer {
  id: string;
  name: string;
  phone: string | null;
  phoneStatus: string;
  consent: string;
  timeZone: string | null;
  state: string | null;
  /** The business has texted this number before (campaigns disclose on a first message). */
  texted: boolean;
}

const userSelect = $<HTMLSelectElement>("user");
const customerSelect = $<HTMLSelectElement>("customer");
const customerInfo = $<HTMLParagraphElement>("customer-info");
const bodyInput = $<HTMLTextAreaElement>("body");
const counter = $<HTMLParagraphElement>("counter");
const keyInput = $<HTMLInputElement>("idempotency");
const sendButton = $<HTMLButtonElement>("send");
const result = $<HTMLDivElement>("result");
const history = $<HTMLOListElement>("history");
const inboxLink = $<HTMLAnchorElement>("inbox-link");
/** `/` (one send) or `/campaign` (the composer): the send form's elements exist on the first only. */
const onSendPage = document.getElementById("send-form") !== null;

/** How often the customer list is read again while the page is shown. */
const CUSTOMER_REFRESH_MS = 3000;

let session: Session | null = null;
let customers: Customer[] = [];
let client: SupabaseClient | null = null;
let composer: ReturnType<typeof startComposer> | null = null;

function localTime(zone: string | null): string | null {
  if (!zone) return null;
  try {
    return new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hour: "2-digit",
      minute: "2-digit",
      weekday: "short",
      hour12: false,
    }).format(new Date());
  } catch {
    return null;
  }
}

/** The live counter: the same numbers send-sms will use to accept or refuse the body. */
function updateCounter(): void {
  const facts = measureMessage(bodyInput.value);
  const parts = [
    plural(facts.characters, "character", "characters"),
    plural(facts.segments, "segment", "segments"),
    facts.encoding,
  ];
  counter.replaceChildren(
    el("span", { id: "count-characters" }, parts[0]),
    " · ",
    el("span", { id: "count-segments" }, parts[1]),
    " · ",
    el("span", { id: "count-encoding" }, parts[2]),
  );
  if (facts.nonGsmCharacters.length) {
    counter.append(` · UCS-2 because of ${facts.nonGsmCharacters.slice(0, 8).join(" ")}`);
  }
  counter.append(
    el(
      "span",
      { class: "limit" },
      facts.withinLimits
        ? ` · limit ${facts.maxSegments} segments / ${facts.maxChars} characters`
        : ` · over the limit of ${facts.maxSegments} segments / ${facts.maxChars} characters: ` +
          "send-sms refuses it (message_too_long)",
    ),
  );
  counter.classList.toggle("over", !facts.withinLimits);
  counter.dataset.segments = String(facts.segments);
  counter.dataset.encoding = facts.encoding;
}

function describeCustomer(c: Customer): string {
  const where = [c.timeZone, c.state].filter(Boolean).join(", ");
  return `${c.name} · ${c.phone ?? "no phone"} · ${c.consent}${where ? ` · ${where}` : ""}`;
}

function showCustomerInfo(): void {
  const c = customers.find((x) => x.id === customerSelect.value);
  if (!c) {
    customerInfo.textContent = customers.length ? "" : "This user's business has no customers.";
    return;
  }
  const time = localTime(c.timeZone);
  customerInfo.textContent = `Consent ${c.consent}, phone ${c.phoneStatus}` +
    (time ? `; their local time is ${time} (${c.timeZone})` : "; time zone from the area code") +
    ". Sends outside 8:00–21:00 there (stricter in some states) are deferred.";
  if (c.phone && session) inboxLink.href = `${session.inboxUrl}/#${encodeURIComponent(c.phone)}`;
}

/** Lists the user's customers afresh; `refresh` keeps the form as it is while loading. */
async function loadCustomers(refresh = false): Promise<void> {
  const email = userSelect.value;
  const previous = onSendPage
    ? customerSelect.value || new URL(location.href).searchParams.get("customer")
    : null;
  if (!refresh && onSendPage) {
    customerSelect.disabled = true;
    customerInfo.textContent = "Loading customers…";
  }
  const res = await fetch(`/api/customers?user=${encodeURIComponent(email)}`, {
    cache: "no-store",
  });
  const list = res.ok ? await res.json() as Customer[] : [];
  if (email !== userSelect.value) return; // the user changed meanwhile; that load wins
  // Unchanged: the options stay as they are (a list the user has open is not rebuilt under them).
  if (refresh && JSON.stringify(list) === JSON.stringify(customers)) return;
  customers = list;
  composer?.setCustomers(list);
  if (!onSendPage) return;
  // Customers who can receive a text first; the others are there to show the refusals.
  const reachable = list.filter((c) => c.consent === "opted_in" && c.phoneStatus === "valid");
  const others = list.filter((c) => !reachable.includes(c));
  const group = (label: string, members: Customer[]) =>
    members.length === 0 ? null : el(
      "optgroup",
      { label },
      ...members.map((c) => el("option", { value: c.id }, describeCustomer(c))),
    );
  customerSelect.replaceChildren(
    ...[
      group("Opted in, valid phone", reachable),
      group("Others (expect a refusal)", others),
    ].filter((g) => g !== null),
  );
  if (previous && customers.some((c) => c.id === previous)) customerSelect.value = previous;
  customerSelect.disabled = false;
  showCustomerInfo();
}

function selectUser(): void {
  const user = session?.users.find((u) => u.email === userSelect.value);
  if (!session || !user) return;
  // What an app does after sign-in, with the user's access token as the Authorization header.
  client = createClient(session.apiUrl, session.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { headers: { Authorization: `Bearer ${user.accessToken}` } },
  });
}

/**
 * `outcome` as sendSms returned it, and whether a request went out: a body refused by the
 * client-side check carries the status the function would answer (422) though nothing was sent.
 */
function render(
  outcome: SendSmsOutcome,
  customer: Customer | undefined,
  requested: boolean,
): void {
  const json = el("pre", { class: "json" }, JSON.stringify(outcome, null, 2));
  let headline: HTMLElement;
  if (outcome.ok && outcome.data.status === "sent") {
    const d = outcome.data;
    headline = el(
      "p",
      { class: "headline ok" },
      el("strong", {}, "Sent"),
      ` to ${customer?.name ?? "the customer"}: ${plural(d.segments, "segment", "segments")}, ` +
        `${d.encoding}, Twilio sid ${d.providerMessageId}. `,
      el("a", { href: inboxLink.href }, "See it in the inbox"),
    );
  } else if (outcome.ok) {
    const d = outcome.data as Extract<typeof outcome.data, { status: "deferred" }>;
    headline = el(
      "p",
      { class: "headline warn" },
      el("strong", {}, "Deferred"),
      ` (${d.reason}): queued for ${new Date(d.scheduledFor).toLocaleString()}.`,
    );
  } else {
    const e = outcome.error;
    const where = !requested
      ? "checked in the browser, nothing sent"
      : e.status
      ? `HTTP ${e.status}`
      : "not sent";
    headline = el(
      "p",
      { class: "headline bad" },
      el("strong", {}, `Refused: ${e.code}`),
      ` (${where}): ${e.message}`,
    );
  }
  result.dataset.outcome = outcome.ok ? outcome.data.status : "error";
  result.dataset.code = outcome.ok ? "" : outcome.error.code;
  result.dataset.requested = String(requested);
  result.replaceChildren(headline, json);
  const summary = outcome.ok
    ? outcome.data.status
    : `${outcome.error.code} (${requested ? outcome.error.status || "not sent" : "browser"})`;
  $("history-block").hidden = false;
  history.prepend(
    el(
      "li",
      {},
      el("time", {}, new Date().toLocaleTimeString()),
      ` ${customer?.name ?? "?"}: ${summary}`,
    ),
  );
}

async function send(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  if (!client) return;
  const customer = customers.find((c) => c.id === customerSelect.value);
  sendButton.disabled = true;
  result.dataset.outcome = "pending";
  result.replaceChildren(el("p", {}, "Sending…"));
  try {
    // The stack re-mints user tokens while it runs (local/user-tokens.ts), the part supabase-js's
    // session refresh plays in an app: send with the current one, whatever the page's age.
    await refreshSession();
    const key = keyInput.value.trim();
    let requested = false;
    const api = client;
    if (!api) return;
    const outcome = await sendSms({
      functions: {
        invoke: (name, options) => {
          requested = true;
          return api.functions.invoke(name, options);
        },
      },
    }, {
      customerId: customerSelect.value,
      body: bodyInput.value,
      ...(key ? { idempotencyKey: key } : {}),
    });
    render(outcome, customer, requested);
    // Consent may have changed (a STOP in the inbox, an opt-out Twilio reported): list afresh.
    await loadCustomers(true);
  } finally {
    sendButton.disabled = false;
  }
}

/** Reads the seeded users and their current tokens; the client then uses the current one. */
async function refreshSession(): Promise<Session> {
  const res = await fetch("/api/session", { cache: "no-store" });
  if (!res.ok) throw new Error(`session: HTTP ${res.status}`);
  const current = await res.json() as Session;
  session = current;
  if (userSelect.value) selectUser();
  return current;
}

async function main(): Promise<void> {
  const current = await refreshSession();
  inboxLink.href = `${current.inboxUrl}/`;
  userSelect.replaceChildren(
    ...current.users.map((u) =>
      el(
        "option",
        { value: u.email },
        `${u.email}${u.businesses.length ? ` (${u.businesses.join(", ")})` : ""}`,
      )
    ),
  );
  const wanted = new URL(location.href).searchParams.get("user");
  if (wanted && current.users.some((u) => u.email === wanted)) userSelect.value = wanted;
  selectUser();
  if (!onSendPage) {
    composer = startComposer({
      user: () => userSelect.value,
      client: async () => {
        // A current token, as for send (see send()).
        await refreshSession();
        return client;
      },
    });
  }
  await loadCustomers();
  userSelect.addEventListener("change", () => {
    selectUser();
    if (onSendPage) customerSelect.value = "";
    composer?.userChanged();
    loadCustomers();
  });
  if (onSendPage) customerSelect.addEventListener("change", showCustomerInfo);
  // Consent and phone status change outside this page (a STOP from the inbox, a callback, an
  // invalid number Twilio reported): back from the inbox tab, on focus, and every few seconds
  // while the page is shown (the inbox may be beside it, in a window of its own), the customers
  // are listed afresh and their labels follow.
  const relist = () => {
    if (!document.hidden) loadCustomers(true).catch(() => {});
  };
  document.addEventListener("visibilitychange", relist);
  addEventListener("focus", relist);
  setInterval(relist, CUSTOMER_REFRESH_MS);
  if (onSendPage) {
    bodyInput.addEventListener("input", updateCounter);
    $("send-form").addEventListener("submit", (e) => send(e as SubmitEvent));
    $("new-key").addEventListener("click", () => {
      keyInput.value = crypto.randomUUID();
      keyInput.focus();
    });
    updateCounter();
    sendButton.disabled = false;
  }
  document.body.dataset.ready = "true";
}

main().catch((e) => {
  const panel = onSendPage ? result : $<HTMLDivElement>("campaign-result");
  panel.dataset.outcome = "error";
  panel.replaceChildren(el("p", { class: "headline bad" }, `The page could not start: ${e}`));
});
