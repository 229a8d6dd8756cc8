/// <reference lib="dom" />
/**
 * The demo page's campaign composer (bundled with app.ts): a template checked and rendered live
 * per recipient with the common module's rules (`parseTemplate`, `renderCampaignMessage`,
 * `measureMessage`), an audience and a schedule, then `campaigns(supabase, …)` to preview and
 * create, and the campaign's progress read from the demo server (the progress views, under the
 * user's RLS) with pause, resume and cancel.
 * @module
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import { measureMessage } from "@shared/contract/message-limits.ts";
import { campaigns, type CampaignsError } from "@shared/contract/client.ts";
import { $, el, plural } from "./dom.ts";
import {
  customerVariables,
  type IneligibleReason,
  parseTemplate,
  renderCampaignMessage,
  TEMPLATE_VARIABLES,
} from "@shared/contract/campaigns.ts";
import type {
  CampaignAudience,
  CampaignPreviewResponse,
  CampaignScheduleInput,
} from "@shared/contract/campaigns.ts";

/** What the composer needs of a customer of `GET /api/customers`. */
export interface ComposerCustomer {
  id: string;
  name: string;
  phone: string | null;
  phoneStatus: string;
  consent: string;
  /** The business has texted this number before: no first-message disclosure. */
  texted: boolean;
}

/** A business of `GET /api/campaigns`, with its disclosure settings. */
interface Business {
  id: string;
  name: string;
  brand: string;
  disclosure: "first_message" | "every_message";
}

/** A campaign of `GET /api/campaigns`: the progress views' figures. */
interface CampaignProgress {
  id: string;
  businessId: string;
  name: string;
  status: string;
  createdAt: string;
  startsAt: string;
  endsAt: string;
  segmentsPlanned: number;
  recipients: number;
  skipped: number;
  queued: number;
  sending: number;
  sent: number;
  delivered: number;
  undelivered: number;
  failed: number;
  canceled: number;
  segmentsBilled: number;
  estimatedCost: number | null;
  currency: string | null;
  /** What Twilio reported for the messages it has priced so far (`priced` of them). */
  actualCost: number | null;
  actualCurrency: string | null;
  priced: number;
  optOuts: number;
  errors: { status: string; errorCode: number | null; messages: number }[];
}

interface CampaignList {
  businesses: Business[];
  campaigns: CampaignProgress[];
}

/** What the composer needs of the page around it. */
export interface ComposerHost {
  /** The signed-in user's email. */
  user(): string;
  /** The user's client, with a current token. */
  client(): Promise<SupabaseClient | null>;
}

/** How often the progress is read while the page is shown. */
const PROGRESS_REFRESH_MS = 2000;
/** How many customers the live preview renders. */
const LIVE_SAMPLES = 3;

const when = (iso: string | null) => iso ? new Date(iso).toLocaleString() : "—";
const reachable = (c: ComposerCustomer) => c.consent === "opted_in" && c.phoneStatus === "valid";

/** The controls of a campaign that is not over. */
const CONTROLS: { action: "pause" | "resume" | "cancel"; label: string }[] = [
  { action: "pause", label: "Pause" },
  { action: "resume", label: "Resume" },
  { action: "cancel", label: "Cancel" },
];
/** Statuses after which nothing can be done to a campaign. */
const FINAL = ["cancelled", "done"];

/** The progress counters shown per campaign, in the order a message goes through them. */
const COUNTS = [
  "queued",
  "sending",
  "sent",
  "delivered",
  "undelivered",
  "failed",
  "canceled",
] as const;

/** Wires the composer into the page; the page calls `setCustomers` on each customer list. */
export function startComposer(host: ComposerHost): {
  setCustomers(list: ComposerCustomer[]): void;
  userChanged(): void;
} {
  const form = $<HTMLFormElement>("campaign-form");
  const businessSelect = $<HTMLSelectElement>("campaign-business");
  const nameInput = $<HTMLInputElement>("campaign-name");
  const template = $<HTMLTextAreaElement>("template");
  const templateCheck = $<HTMLParagraphElement>("template-check");
  const audienceList = $<HTMLDivElement>("audience-list");
  const liveList = $<HTMLOListElement>("live-preview");
  const previewButton = $<HTMLButtonElement>("campaign-preview");
  const sendButton = $<HTMLButtonElement>("campaign-send");
  const result = $<HTMLDivElement>("campaign-result");
  const progress = $<HTMLDivElement>("campaign-progress");
  const controlResult = $<HTMLParagraphElement>("campaign-control-result");

  let customers: ComposerCustomer[] = [];
  const chosen = new Set<string>();
  let businesses: Business[] = [];
  let shown = "";

  const business = () => businesses.find((b) => b.id === businessSelect.value) ?? businesses[0];
  const radio = (name: string) =>
    (form.querySelector(`input[name=${name}]:checked`) as HTMLInputElement | null)?.value;

  function audience(): CampaignAudience {
    return radio("audience-kind") === "filter"
      ? { filter: { consent: "opted_in" } }
      : { customerIds: customers.filter((c) => chosen.has(c.id)).map((c) => c.id) };
  }

  function schedule(): CampaignScheduleInput {
    const kind = radio("schedule-kind");
    if (kind === "at") {
      const at = new Date($<HTMLInputElement>("schedule-at").value);
      return { kind: "at", at: Number.isNaN(at.getTime()) ? "" : at.toISOString() };
    }
    if (kind === "local") {
      return {
        kind: "local",
        date: $<HTMLInputElement>("schedule-date").value,
        time: $<HTMLInputElement>("schedule-time").value,
      };
    }
    return { kind: "now" };
  }

  /** Unknown placeholders, flagged as the user types (the function refuses them with a 422). */
  function checkTemplate(): void {
    const parsed = parseTemplate(template.value);
    templateCheck.dataset.ok = String(parsed.ok);
    if (parsed.ok) {
      templateCheck.textContent = parsed.variables.length
        ? `Uses ${parsed.variables.map((v) => `{{${v}}}`).join(", ")}.`
        : "No placeholders: every recipient gets the same text.";
    } else {
      templateCheck.textContent = `Unknown: ${
        parsed.unknown.map((u) => `{{${u}}}`).join(", ")
      } — the function refuses it (unknown_template_variable).`;
    }
  }

  /** The message each of a few chosen customers would get, rendered as the function does. */
  function renderLive(): void {
    const b = business();
    // Only customers who can get the message: the others are counted by the preview's reasons.
    const pool = radio("audience-kind") === "filter"
      ? customers.filter(reachable)
      : customers.filter((c) => chosen.has(c.id) && reachable(c));
    const sample = pool.slice(0, LIVE_SAMPLES);
    if (!b || sample.length === 0 || template.value.trim() === "") {
      liveList.replaceChildren(
        el("li", { class: "hint" }, "Choose customers and type a template to see their messages."),
      );
      return;
    }
    liveList.replaceChildren(...sample.map((c) => {
      // The first message to a number names the sender and says how to opt out (CTIA), as the
      // function renders it; later ones only when the business asks for it on every message.
      const disclose = b.disclosure === "every_message" || !c.texted;
      const body = renderCampaignMessage(template.value, customerVariables(c.name, b.name), {
        disclose,
        brand: b.brand,
      });
      const facts = measureMessage(body);
      const item = el(
        "li",
        { "data-customer-id": c.id, "data-segments": String(facts.segments) },
        el("strong", {}, c.name),
        disclose ? " (first message: with disclosure)" : "",
        el("span", { class: "sms" }, body),
        el(
          "span",
          { class: "facts" },
          `${plural(facts.characters, "character", "characters")} · `,
          el("span", { class: "segments" }, plural(facts.segments, "segment", "segments")),
          ` · ${facts.encoding}`,
          facts.withinLimits ? "" : " · too long: skipped (too_long)",
        ),
      );
      item.dataset.encoding = facts.encoding;
      return item;
    }));
    const more = pool.length - sample.length;
    if (more > 0) liveList.append(el("li", { class: "hint" }, `…and ${more} more.`));
  }

  function renderCustomers(): void {
    if (customers.length === 0) {
      audienceList.replaceChildren(el("p", { class: "hint" }, "This business has no customers."));
      return;
    }
    audienceList.replaceChildren(...customers.map((c) => {
      const box = el("input", { type: "checkbox", value: c.id, id: `aud-${c.id}` });
      box.checked = chosen.has(c.id);
      box.addEventListener("change", () => {
        if (box.checked) chosen.add(c.id);
        else chosen.delete(c.id);
        renderLive();
      });
      return el(
        "label",
        { class: "check", for: `aud-${c.id}` },
        box,
        ` ${c.name} `,
        el("span", { class: "hint" }, `${c.phone ?? "no phone"} · ${c.consent}`),
      );
    }));
  }

  function errorHeadline(e: CampaignsError): HTMLElement {
    const where = e.status ? `HTTP ${e.status}` : "checked in the browser, nothing sent";
    return el(
      "p",
      { class: "headline bad" },
      el("strong", {}, e.code),
      ` (${where}): ${e.message}`,
    );
  }

  function showFigures(
    kind: "preview" | "create",
    data: CampaignPreviewResponse & { campaignId?: string; status?: string },
  ): void {
    const reasons = Object.entries(data.ineligible) as [IneligibleReason, number][];
    const skipped = reasons.filter(([, n]) => n > 0);
    const cost = `$${data.cost.total.toFixed(4)} ${data.cost.currency}`;
    const row = (
      label: string,
      id: string,
      value: string,
    ) => [el("dt", {}, label), el("dd", { id }, value)];
    result.dataset.outcome = kind;
    result.replaceChildren(
      el(
        "p",
        { class: "headline ok" },
        el("strong", {}, kind === "preview" ? "Preview" : `Created (${data.status})`),
        kind === "preview" ? ": nothing is stored or sent yet." : `: campaign ${data.campaignId}.`,
      ),
      el(
        "dl",
        { class: "figures" },
        ...row("Eligible", "pv-eligible", String(data.eligible)),
        el("dt", {}, "Ineligible"),
        el(
          "dd",
          { id: "pv-ineligible" },
          skipped.length === 0 ? "none" : el(
            "ul",
            {},
            ...skipped.map(([reason, n]) => el("li", { "data-reason": reason }, `${reason}: ${n}`)),
          ),
        ),
        ...row("Segments", "pv-segments", String(data.segments)),
        ...row(
          "Encodings",
          "pv-encodings",
          `GSM-7 ${data.encodings["GSM-7"]} · UCS-2 ${data.encodings["UCS-2"]}`,
        ),
        ...row("Estimated cost", "pv-cost", cost),
        ...row("First delivery", "pv-first", when(data.firstDeliveryAt)),
        ...row("Last delivery", "pv-last", when(data.lastDeliveryAt)),
      ),
    );
    for (const [reason, n] of reasons) result.dataset[`ineligible_${reason}`] = String(n);
    result.dataset.eligible = String(data.eligible);
    result.dataset.firstDeliveryAt = data.firstDeliveryAt ?? "";
  }

  async function call(kind: "preview" | "create"): Promise<void> {
    const b = business();
    if (!b) return;
    previewButton.disabled = sendButton.disabled = true;
    result.dataset.outcome = "pending";
    result.replaceChildren(el("p", {}, kind === "preview" ? "Previewing…" : "Creating…"));
    try {
      const api = await host.client();
      if (!api) return;
      const fields = {
        businessId: b.id,
        template: template.value,
        audience: audience(),
        schedule: schedule(),
      };
      const outcome = kind === "preview"
        ? await campaigns(api, { action: "preview", ...fields })
        : await campaigns(api, { action: "create", name: nameInput.value, ...fields });
      if (!outcome.ok) {
        result.dataset.outcome = "error";
        result.dataset.code = outcome.error.code;
        result.replaceChildren(
          errorHeadline(outcome.error),
          el("pre", { class: "json" }, JSON.stringify(outcome.error, null, 2)),
        );
        return;
      }
      result.dataset.code = "";
      showFigures(kind, outcome.data);
      const created = outcome.data as { campaignId?: string };
      result.dataset.campaignId = created.campaignId ?? "";
      if (kind === "create") await loadProgress();
    } finally {
      previewButton.disabled = sendButton.disabled = false;
    }
  }

  async function control(id: string, action: "pause" | "resume" | "cancel"): Promise<void> {
    controlResult.dataset.outcome = "pending";
    controlResult.className = "";
    controlResult.textContent = `${action}…`;
    const api = await host.client();
    if (!api) return;
    const outcome = await campaigns(api, { action, campaignId: id });
    if (outcome.ok) {
      controlResult.dataset.outcome = "ok";
      controlResult.dataset.code = "";
      controlResult.className = "headline ok";
      controlResult.textContent = `${action}: the campaign is ${outcome.data.status}` +
        (outcome.data.cancelled === undefined
          ? "."
          : `; ${plural(outcome.data.cancelled, "message", "messages")} will not be sent.`);
    } else {
      controlResult.dataset.outcome = "error";
      controlResult.dataset.code = outcome.error.code;
      controlResult.className = "headline bad";
      controlResult.replaceChildren(
        el("strong", {}, outcome.error.code),
        ` (${outcome.error.status ? `HTTP ${outcome.error.status}` : "not sent"}): ` +
          outcome.error.message,
      );
    }
    await loadProgress();
  }

  function renderProgress(list: CampaignProgress[]): void {
    if (list.length === 0) {
      progress.replaceChildren(el("p", { class: "hint" }, "No campaigns yet."));
      return;
    }
    progress.replaceChildren(...list.map((c) => {
      const counts = el(
        "table",
        { class: "counts" },
        el("tr", {}, ...COUNTS.map((k) => el("th", {}, k))),
        el("tr", {}, ...COUNTS.map((k) => el("td", { "data-count": k }, String(c[k])))),
      );
      // Every control while the campaign is open: the status shown may be two seconds old, and
      // the function is the one to say what the campaign can do now (campaign_state_conflict).
      const buttons = FINAL.includes(c.status) ? [] : CONTROLS.map((ctl) => {
        const b = el("button", { type: "button", "data-action": ctl.action }, ctl.label);
        b.addEventListener("click", () => {
          b.disabled = true;
          control(c.id, ctl.action).catch(() => {});
        });
        return b;
      });
      const errors = c.errors.length === 0
        ? "none"
        : c.errors.map((e) => `${e.status} ${e.errorCode ?? "(no code)"}: ${e.messages}`).join(
          ", ",
        );
      return el(
        "article",
        { class: "campaign", "data-campaign-id": c.id, "data-status": c.status },
        el(
          "h3",
          {},
          `${c.name} `,
          el("span", { class: `status ${c.status}` }, c.status),
        ),
        el(
          "p",
          { class: "hint" },
          `${plural(c.recipients, "recipient", "recipients")}, ${c.skipped} skipped · ` +
            `starts ${when(c.startsAt)}, last release ${when(c.endsAt)}`,
        ),
        counts,
        el(
          "p",
          { class: "facts" },
          "Segments billed ",
          el("span", { "data-field": "segments" }, String(c.segmentsBilled)),
          ` of ${c.segmentsPlanned} · errors `,
          el("span", { "data-field": "errors" }, errors),
          " · opt-outs ",
          el("span", { "data-field": "opt-outs" }, String(c.optOuts)),
          " · cost ",
          el("span", { "data-field": "cost" }, costLine(c)),
        ),
        el("div", { class: "row controls" }, ...buttons),
      );
    }));
  }

  function costLine(c: CampaignProgress): string {
    const money = (amount: number | null, currency: string | null) =>
      amount === null ? "—" : `${amount.toFixed(4)} ${currency ?? ""}`.trim();
    return `estimated ${money(c.estimatedCost, c.currency)}, actual ` +
      (c.priced === 0
        ? "not reported yet"
        : `${money(c.actualCost, c.actualCurrency)} (${c.priced} priced)`);
  }

  async function loadProgress(): Promise<void> {
    const email = host.user();
    const res = await fetch(`/api/campaigns?user=${encodeURIComponent(email)}`, {
      cache: "no-store",
    });
    if (!res.ok || email !== host.user()) return;
    const data = await res.json() as CampaignList;
    const text = JSON.stringify(data);
    // Unchanged: nothing is rebuilt (a button under the pointer stays where it is).
    if (text === shown) return;
    shown = text;
    if (JSON.stringify(data.businesses) !== JSON.stringify(businesses)) {
      businesses = data.businesses;
      const previous = businessSelect.value;
      businessSelect.replaceChildren(
        ...businesses.map((b) => el("option", { value: b.id }, b.name)),
      );
      if (businesses.some((b) => b.id === previous)) businessSelect.value = previous;
      renderLive();
    }
    renderProgress(data.campaigns);
    progress.dataset.loaded = "true";
  }

  const insertButtons = $<HTMLSpanElement>("template-variables");
  insertButtons.replaceChildren(...TEMPLATE_VARIABLES.map((v) => {
    const b = el("button", { type: "button", class: "insert", "data-variable": v }, `{{${v}}}`);
    b.addEventListener("click", () => {
      const at = template.selectionStart ?? template.value.length;
      const end = template.selectionEnd ?? at;
      template.setRangeText(`{{${v}}}`, at, end, "end");
      template.focus();
      template.dispatchEvent(new Event("input"));
    });
    return b;
  }));
  template.addEventListener("input", () => {
    checkTemplate();
    renderLive();
  });
  form.addEventListener("change", renderLive);
  businessSelect.addEventListener("change", renderLive);
  $("audience-all").addEventListener("click", () => {
    customers.filter(reachable).forEach((c) => chosen.add(c.id));
    renderCustomers();
    renderLive();
  });
  $("audience-none").addEventListener("click", () => {
    chosen.clear();
    renderCustomers();
    renderLive();
  });
  previewButton.addEventListener("click", () => call("preview").catch(() => {}));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    call("create").catch(() => {});
  });
  const today = new Date();
  $<HTMLInputElement>("schedule-date").value = today.toISOString().slice(0, 10);
  checkTemplate();
  renderLive();
  setInterval(() => {
    if (!document.hidden) loadProgress().catch(() => {});
  }, PROGRESS_REFRESH_MS);
  loadProgress().catch(() => {});
  previewButton.disabled = sendButton.disabled = false;

  return {
    setCustomers(list) {
      customers = list;
      for (const id of [...chosen]) if (!list.some((c) => c.id === id)) chosen.delete(id);
      renderCustomers();
      renderLive();
    },
    userChanged() {
      chosen.clear();
      shown = "";
      businesses = [];
      loadProgress().catch(() => {});
    },
  };
}
