/**
 * What a benchmark returns and how it is printed: tables, notes, correctness checks, and the one
 * closing line `<name>: ratio <x> (target <y>)`.
 *
 * @module
 */

/** A printed table: a title, column names and rows of cells. */
export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

/** A correctness condition that must hold in the quick form too (agreement, no duplicates…). */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Everything a benchmark reports. */
export interface BenchResult {
  name: string;
  quick: boolean;
  tables: Table[];
  /** The headline ratio of the closing line. */
  ratio: number;
  target: number;
  /** `atLeast`: the ratio must be ≥ target; `atMost`: ≤ target (cold-start's budget use). */
  direction: "atLeast" | "atMost";
  /** How the ratio is computed, in a few words (printed above the closing line). */
  ratioMeaning: string;
  checks: Check[];
  notes: string[];
  /** Raw figures, for `--json` and docs/performance.md. */
  figures: Record<string, unknown>;
}

/** Whether the headline ratio meets its target. */
export function meetsTarget(r: Pick<BenchResult, "ratio" | "target" | "direction">): boolean {
  return r.direction === "atLeast" ? r.ratio >= r.target : r.ratio <= r.target;
}

/** A number with about three significant digits (no exponent for the sizes printed here). */
export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, digits - 1 - magnitude);
  return value.toFixed(Math.min(decimals, 6));
}

/** Thousands separators for counts and rates. */
export function int(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function renderTable(t: Table): string {
  const cells = [t.columns, ...t.rows.map((r) => r.map(String))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    "| " + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") +
    " |";
  const rule = "|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":"))
    .join("|") +
    "|";
  return [`${t.title}`, "", line(cells[0]), rule, ...cells.slice(1).map(line)].join("\n");
}

/** The whole report, ending with the closing ratio line. */
export function render(r: BenchResult): string {
  const out: string[] = [];
  for (const t of r.tables) out.push(renderTable(t), "");
  for (const n of r.notes) out.push(`note: ${n}`);
  for (const c of r.checks) out.push(`check ${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`);
  out.push(
    `ratio: ${r.ratioMeaning}; target ${r.direction === "atLeast" ? "≥" : "≤"} ${r.target}` +
      (r.quick ? " (quick form: checks that it works, not the speed)" : "") +
      `: ${meetsTarget(r) ? "met" : "MISSED"}`,
  );
  out.push(`${r.name}: ratio ${fmt(r.ratio)} (target ${r.target})`);
  return out.join("\n");
}
