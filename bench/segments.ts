/**
 * `segments`: our segment counter (shared/text/segments.ts) against Twilio's calculator
 * (`sms-segments-calculator`, `new SegmentedMessage(text)`) on the fixed 20,000-message corpus.
 * Agreement on encoding and segment count must be 100%; the ratio is our throughput over theirs
 * (the slower of `countSegments` and `analyzeSegments`), target ≥ 100.
 *
 * @module
 */
import { SegmentedMessage } from "sms-segments-calculator";
import { analyzeSegments, countSegments } from "@shared/text/segments.ts";
import { buildCorpus, CORPUS_KINDS, type CorpusMessage } from "./segments-corpus.ts";
import type { BenchContext, Benchmark } from "./main.ts";
import { type BenchResult, fmt, int } from "./lib/report.ts";

const TARGET = 100;

/** Runs `fn` over the corpus `passes` times; returns messages per second. */
function throughput(corpus: CorpusMessage[], passes: number, fn: (text: string) => number): {
  seconds: number;
  perSecond: number;
  messages: number;
  checksum: number;
} {
  let checksum = 0;
  const started = performance.now();
  for (let p = 0; p < passes; p++) {
    for (let i = 0; i < corpus.length; i++) checksum += fn(corpus[i].text);
  }
  const seconds = (performance.now() - started) / 1000;
  const messages = corpus.length * passes;
  return { seconds, perSecond: messages / seconds, messages, checksum };
}

/** Passes of `fn` over the corpus needed to run for about `seconds` (at least one). */
function passesFor(corpus: CorpusMessage[], seconds: number, fn: (text: string) => number) {
  const probe = throughput(corpus.slice(0, 500), 1, fn);
  return Math.max(1, Math.round((seconds * probe.perSecond) / corpus.length));
}

interface KindFigures {
  messages: number;
  ucs2: number;
  segments: number;
  agree: number;
  theirs: Timing;
  count: Timing;
  analyze: Timing;
}

type Timing = ReturnType<typeof throughput>;

/** Sums timings of disjoint parts of the corpus into one. */
function total(parts: Timing[]): Timing {
  const seconds = parts.reduce((a, t) => a + t.seconds, 0);
  const messages = parts.reduce((a, t) => a + t.messages, 0);
  return { seconds, messages, perSecond: messages / seconds, checksum: 0 };
}

function measure(ctx: BenchContext): BenchResult {
  const full = buildCorpus(20_000);
  // The quick form keeps one message of each kind in every 200: 500 messages.
  const corpus = ctx.quick ? full.filter((_, i) => Math.floor(i / 5) % 40 === 0) : full;
  ctx.log(`corpus: ${corpus.length} messages`);
  const kinds = new Map<string, CorpusMessage[]>(
    CORPUS_KINDS.map((k) => [k, corpus.filter((m) => m.kind === k)]),
  );

  // Theirs: one timed pass per kind (about 300–2,000 messages a second, slower on long
  // messages), keeping its answers for the agreement check.
  ctx.log("timing sms-segments-calculator (one pass)…");
  const reference = new Map<CorpusMessage, { encoding: string; segments: number }>();
  const theirsByKind = new Map<string, Timing>();
  for (const [kind, messages] of kinds) {
    const started = performance.now();
    for (const m of messages) {
      const ref = new SegmentedMessage(m.text);
      reference.set(m, { encoding: ref.encodingName, segments: ref.segmentsCount });
    }
    const seconds = (performance.now() - started) / 1000;
    theirsByKind.set(kind, {
      seconds,
      messages: messages.length,
      perSecond: messages.length / seconds,
      checksum: 0,
    });
  }

  // Agreement on every message, both entry points.
  const disagreements: string[] = [];
  const agreeByKind = new Map<string, number>();
  for (const m of corpus) {
    const ref = reference.get(m)!;
    const ours = analyzeSegments(m.text);
    const count = countSegments(m.text);
    if (
      ours.encoding === ref.encoding && ours.segments === ref.segments && count === ref.segments
    ) {
      agreeByKind.set(m.kind, (agreeByKind.get(m.kind) ?? 0) + 1);
    } else {
      disagreements.push(
        `${JSON.stringify(m.text)}: ours ${ours.encoding}/${ours.segments} (count ${count}), ` +
          `theirs ${ref.encoding}/${ref.segments}`,
      );
    }
  }
  const agreed = corpus.length - disagreements.length;

  // Ours: enough passes over each kind to run for a while, so timer resolution and JIT
  // warm-up do not matter.
  const perKindSeconds = ctx.quick ? 0.04 : 0.6;
  ctx.log("timing countSegments and analyzeSegments…");
  const analyze = (t: string) => analyzeSegments(t).segments;
  const figures = new Map<string, KindFigures>();
  for (const [kind, messages] of kinds) {
    const count = throughput(
      messages,
      passesFor(messages, perKindSeconds, countSegments),
      countSegments,
    );
    const full2 = throughput(messages, passesFor(messages, perKindSeconds, analyze), analyze);
    figures.set(kind, {
      messages: messages.length,
      ucs2: messages.filter((m) => reference.get(m)!.encoding === "UCS-2").length,
      segments: messages.reduce((a, m) => a + reference.get(m)!.segments, 0),
      agree: agreeByKind.get(kind) ?? 0,
      theirs: theirsByKind.get(kind)!,
      count,
      analyze: full2,
    });
  }
  const all = [...figures.values()];
  const theirs = total(all.map((f) => f.theirs));
  const count = total(all.map((f) => f.count));
  const full2 = total(all.map((f) => f.analyze));

  const ratioCount = count.perSecond / theirs.perSecond;
  const ratioAnalyze = full2.perSecond / theirs.perSecond;
  const ratio = Math.min(ratioCount, ratioAnalyze);

  const row = (label: string, r: Timing) => [
    label,
    int(r.messages),
    fmt(r.seconds),
    int(r.perSecond),
    fmt(r.perSecond / theirs.perSecond),
  ];
  return {
    name: "segments",
    quick: ctx.quick,
    tables: [
      {
        title: `Segment counting, ${int(corpus.length)} messages (${
          ctx.quick ? "quick subset" : "fixed corpus"
        })`,
        columns: ["implementation", "messages", "seconds", "messages/s", "× Twilio's"],
        rows: [
          row("sms-segments-calculator 1.3.0: new SegmentedMessage(text)", theirs),
          row("ours: countSegments(text)", count),
          row("ours: analyzeSegments(text) (with parts)", full2),
        ],
      },
      {
        title: "By kind: agreement (encoding and segment count) and messages per second",
        columns: [
          "kind",
          "messages",
          "UCS-2",
          "avg segments",
          "agreement",
          "Twilio's/s",
          "countSegments/s",
          "analyzeSegments/s",
        ],
        rows: [...figures].map(([kind, k]) => [
          kind,
          int(k.messages),
          int(k.ucs2),
          fmt(k.segments / k.messages),
          `${fmt((100 * k.agree) / k.messages, 4)}%`,
          int(k.theirs.perSecond),
          int(k.count.perSecond),
          int(k.analyze.perSecond),
        ]),
      },
    ],
    ratio,
    target: TARGET,
    direction: "atLeast",
    ratioMeaning: "messages/s of our slower entry point (countSegments, analyzeSegments) over " +
      "sms-segments-calculator's",
    checks: [{
      name: "agreement",
      ok: disagreements.length === 0,
      detail: `${agreed}/${corpus.length} (${fmt((100 * agreed) / corpus.length, 4)}%)` +
        (disagreements.length ? `; first: ${disagreements.slice(0, 10).join("; ")}` : ""),
    }],
    notes: [],
    figures: {
      messages: corpus.length,
      agreementPercent: (100 * agreed) / corpus.length,
      disagreements: disagreements.length,
      theirsPerSecond: theirs.perSecond,
      countPerSecond: count.perSecond,
      analyzePerSecond: full2.perSecond,
      ratioCount,
      ratioAnalyze,
      byKind: Object.fromEntries(
        [...figures].map(([kind, k]) => [kind, {
          theirsPerSecond: k.theirs.perSecond,
          countPerSecond: k.count.perSecond,
          analyzePerSecond: k.analyze.perSecond,
        }]),
      ),
    },
  };
}

export const benchmark: Benchmark = {
  name: "segments",
  description: "segment counter vs sms-segments-calculator on a fixed 20,000-message corpus",
  run: (ctx) => Promise.resolve(measure(ctx)),
};
