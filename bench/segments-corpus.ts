/**
 * The fixed corpus of bench/segments.ts: 20,000 SMS bodies from a seeded generator (the same on
 * every run), in five kinds of 4,000 each: plain English, GSM-7 extension characters, accented
 * Latin, emoji with ZWJ sequences, and long (multi-segment) messages. Lengths cluster around the
 * 67/70 and 153/160 edges, where counting mistakes show.
 *
 * @module
 */
import { prng } from "./lib/stats.ts";

export const CORPUS_KINDS = ["plain", "extension", "accented", "emoji", "long"] as const;
export type CorpusKind = typeof CORPUS_KINDS[number];

export interface CorpusMessage {
  kind: CorpusKind;
  text: string;
}

const NAMES = ["Ann", "Bob", "Carla", "Dev", "Eun-ji", "Farid", "Grace", "Hiro", "Ivy", "Jamal"];
const BUSINESSES = ["Acme Dental", "Bright Smiles", "Corner Bakery", "Downtown Auto", "Elm Yoga"];
const PLAIN = [
  "Hi {name}, thanks for visiting {biz} today! Would you leave us a quick review? {url}",
  "{biz}: your appointment is confirmed for {day} at {time}. Reply C to confirm or call us.",
  "Hello {name}! Your order #{num} is ready for pickup at {biz}. We're open until 6pm.",
  "{name}, it was great to see you. How did we do? Tap {url} to rate {biz}. Reply STOP to opt out.",
  "Reminder from {biz}: {day} {time}. Please arrive 10 minutes early. Questions? Call (555) 010-{num}.",
  "Thanks {name}! Use code SAVE{num} for 15% off your next visit to {biz}. Valid until {day}.",
];
const EXTENSION_BITS = ["{", "}", "[", "]", "~", "^", "|", "\\", "€", "\f"];
const EXTENSION = [
  "Price: 25€ [incl. VAT] | code {CODE} ~ see you {name}!",
  "{biz} offer: [2 for 1] on {day} | 10€ off ^ ask at desk",
  "Path C:\\orders\\{num} | status [ready] {ok}",
  "Menu ~ soup|salad|bread ~ 12€ [{day}]",
];
const ACCENTED_WORDS = [
  "café",
  "crème",
  "brûlée",
  "déjà",
  "vu",
  "señor",
  "mañana",
  "niño",
  "über",
  "Müller",
  "Zoë",
  "façade",
  "naïve",
  "piñata",
  "jalapeño",
  "São",
  "Paulo",
  "coração",
  "Ångström",
  "Øresund",
  "résumé",
  "fiancée",
  "à",
  "bientôt",
  "Grüße",
  "straße",
  "año",
  "ça",
  "va",
  "très",
  "bien",
  "cañón",
  "Málaga",
  "Córdoba",
  "Île",
  "Çay",
  "Ærø",
  "smörgåsbord",
  "Łódź",
  "Dvořák",
  "e\u0301",
];
const EMOJI = [
  "😀",
  "😂",
  "👍",
  "👍🏽",
  "🙏🏿",
  "❤️",
  "❤",
  "🎉",
  "✨",
  "🇺🇸",
  "🇫🇷",
  "🇯🇵",
  "👨‍👩‍👧‍👦",
  "👩‍❤️‍👨",
  "🏳️‍🌈",
  "🧑🏽‍💻",
  "👩🏻‍🚀",
  "🐻‍❄️",
  "☕",
  "✅",
  "⭐",
  "🦷",
  "🍰",
  "🚗",
  "🧘‍♀️",
];

/** Builds the corpus (`count` messages, kinds interleaved so any prefix is a fair sample). */
export function buildCorpus(count = 20_000, seed = 20261126): CorpusMessage[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const between = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const fill = (template: string) =>
    template
      .replaceAll("{name}", pick(NAMES))
      .replaceAll("{biz}", pick(BUSINESSES))
      .replaceAll("{url}", `https://r.example.com/${Math.floor(rnd() * 1e8).toString(36)}`)
      .replaceAll("{day}", pick(["Mon 3/2", "Tue 3/3", "Friday", "tomorrow", "12/24"]))
      .replaceAll("{time}", `${between(8, 19)}:${pick(["00", "15", "30", "45"])}`)
      .replaceAll("{num}", String(between(100, 99999)))
      .replaceAll("{CODE}", pick(["A1", "ZZ9", "SPRING"]))
      .replaceAll("{ok}", pick(["ok", "OK!", "done."]));
  // Cuts at `n` units without leaving half a surrogate pair behind.
  const cut = (text: string, n: number) => {
    const code = text.charCodeAt(n - 1);
    return text.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
  };
  // Pads or cuts `text` to a length near one of the edges that matter for its encoding.
  const nearEdge = (text: string, edges: number[]) => {
    const target = pick(edges) + between(-3, 3);
    let out = text;
    while (out.length < target) out += " " + fill(pick(PLAIN));
    return cut(out, Math.max(1, target));
  };

  const makers: Record<CorpusKind, () => string> = {
    plain: () => {
      const text = fill(pick(PLAIN));
      return rnd() < 0.5 ? text : nearEdge(text, [160, 306, 459]);
    },
    extension: () => {
      let text = fill(pick(EXTENSION));
      const extra = between(0, 6);
      for (let i = 0; i < extra; i++) {
        const at = between(0, text.length);
        text = text.slice(0, at) + pick(EXTENSION_BITS) + text.slice(at);
      }
      if (rnd() < 0.6) {
        text = nearEdge(text, [80, 150, 153, 160, 300]);
        // An extension character right at the edge, where the escape must not be split.
        const at = Math.max(0, text.length - between(0, 8));
        text = text.slice(0, at) + pick(EXTENSION_BITS) + text.slice(at);
      }
      return text;
    },
    accented: () => {
      const words = between(4, 40);
      const parts: string[] = [];
      for (let i = 0; i < words; i++) {
        parts.push(rnd() < 0.4 ? pick(ACCENTED_WORDS) : pick(fill(pick(PLAIN)).split(" ")));
      }
      return parts.join(" ");
    },
    emoji: () => {
      const parts: string[] = [];
      const len = pick([20, 60, 66, 67, 68, 70, 130, 134, 140, 200]);
      let units = 0;
      while (units < len) {
        const piece = rnd() < 0.35 ? pick(EMOJI) : pick(fill(pick(PLAIN)).split(" ")) + " ";
        parts.push(piece);
        units += piece.length;
      }
      return parts.join("");
    },
    long: () => {
      const target = between(400, 1600);
      let text = "";
      const unicode = rnd() < 0.5;
      while (text.length < target) {
        text += fill(pick(PLAIN)) + (unicode && rnd() < 0.3 ? " " + pick(EMOJI) + " " : " ");
        if (rnd() < 0.1) text += pick(EXTENSION_BITS);
        if (rnd() < 0.1) text += "\r\n";
      }
      return cut(text, target);
    },
  };

  const corpus: CorpusMessage[] = [];
  for (let i = 0; i < count; i++) {
    const kind = CORPUS_KINDS[i % CORPUS_KINDS.length];
    corpus.push({ kind, text: makers[kind]() });
  }
  return corpus;
}
