import assert from "node:assert/strict";
import fc from "fast-check";
import {
  AWS_OPT_OUT_KEYWORDS,
  classifyKeyword,
  classifyReply,
  FRENCH_OPT_OUT_KEYWORDS,
  FUZZY_EXCEPTIONS,
  FUZZY_LONG,
  FUZZY_SHORT,
  fuzzyBudget,
  HELP_KEYWORDS,
  isMisspelling,
  normalizeReply,
  OPT_IN_KEYWORDS,
  OPT_OUT_KEYWORDS,
  OTHER_HELP_KEYWORDS,
  SPANISH_OPT_OUT_KEYWORDS,
} from "@shared/compliance/keywords.ts";
import type { KeywordClass } from "@shared/compliance/keywords.ts";

const TABLE: [string, KeywordClass][] = [
  // Twilio's default keywords, any case, spacing and punctuation.
  ["STOP", "opt_out"],
  ["stop", "opt_out"],
  [" Stop. ", "opt_out"],
  ["STOP!!!", "opt_out"],
  ["STOPALL", "opt_out"],
  ["Stop all", "opt_out"],
  ["UNSUBSCRIBE", "opt_out"],
  ["Cancel", "opt_out"],
  ["end", "opt_out"],
  ["QUIT", "opt_out"],
  ["OptOut", "opt_out"],
  ["opt-out", "opt_out"],
  ["Opt out", "opt_out"],
  ["REVOKE", "opt_out"],
  ["S T O P", "opt_out"],
  ["s.t.o.p", "opt_out"],
  ["ＳＴＯＰ", "opt_out"],
  ["stop stop stop", "opt_out"],
  ['"STOP"', "opt_out"],
  ["START", "opt_in"],
  ["start", "opt_in"],
  ["Yes", "opt_in"],
  ["YES!", "opt_in"],
  ["unstop", "opt_in"],
  ["UNSTOP.", "opt_in"],
  ["HELP", "help"],
  ["help?", "help"],
  ["Info", "help"],
  ["INFO.", "help"],
  // FCC: revocation by any reasonable means.
  ["Stop texting me", "opt_out"],
  ["please unsubscribe", "opt_out"],
  ["Please stop sending these", "opt_out"],
  ["I want to opt out", "opt_out"],
  ["Unsubscribe me please", "opt_out"],
  ["quit messaging me", "opt_out"],
  ["revoke my consent", "opt_out"],
  ["Cancel my subscription", "opt_out"],
  ["end these messages", "opt_out"],
  ["Remove me from your list", "opt_out"],
  ["Take me off this list", "opt_out"],
  ["leave me alone", "opt_out"],
  ["No more texts please", "opt_out"],
  ["Don't text me again", "opt_out"],
  ["do not contact me", "opt_out"],
  ["Wrong number", "opt_out"],
  ["who is this? wrong number", "opt_out"],
  ["not interested", "opt_out"],
  ["unsub", "opt_out"],
  ["ALTO", "opt_out"],
  ["Cancelar", "opt_out"],
  ["stopp", "opt_out"],
  // Misleading: a revocation word wins over anything else (when in doubt, honour the opt-out).
  ["Yes, stop", "opt_out"],
  ["START STOP", "opt_out"],
  ["help me stop these", "opt_out"],
  ["Don't stop!", "opt_out"],
  ["I'll stop by tomorrow", "opt_out"],
  ["Can I cancel my appointment?", "opt_out"],
  ["The end", "opt_out"],
  // Misleading: look like keywords but are not.
  ["unstoppable deals!", "other"],
  ["See you this weekend", "other"],
  ["I stopped by yesterday", "other"],
  ["legendary service", "other"],
  ["cancelled my order already", "other"],
  ["Yes please, I'd love to", "other"],
  ["start time?", "other"],
  ["yesterday was great", "other"],
  ["I need help with my order", "other"],
  ["more info on pricing", "other"],
  ["information", "other"],
  ["Thanks! 5 stars", "other"],
  ["What time do you open?", "other"],
  ["😀", "other"],
  ["", "other"],
  ["   ", "other"],
  ["?!", "other"],
  ["Quitting time at 5", "other"],
  ["Stopwatch", "other"],
];

Deno.test("keywords: table of replies", () => {
  assert.ok(TABLE.length >= 60, `${TABLE.length} rows`);
  for (const [reply, expected] of TABLE) {
    assert.equal(classifyKeyword(reply), expected, JSON.stringify(reply));
  }
});

Deno.test("keywords: every Twilio default keyword, exact", () => {
  for (const k of OPT_OUT_KEYWORDS) {
    assert.deepEqual(classifyReply(k), { kind: "opt_out", matched: k.toLowerCase(), via: "exact" });
  }
  for (const k of OPT_IN_KEYWORDS) assert.equal(classifyKeyword(k), "opt_in");
  for (const k of HELP_KEYWORDS) assert.equal(classifyKeyword(k), "help");
  assert.deepEqual(classifyReply("Please stop"), {
    kind: "opt_out",
    matched: "stop",
    via: "contains",
  });
  assert.deepEqual(classifyReply("remove me"), {
    kind: "opt_out",
    matched: "remove me",
    via: "contains",
  });
});

Deno.test("keywords: normalisation", () => {
  assert.equal(normalizeReply("  S.T.O.P!  "), "stop");
  assert.equal(normalizeReply("Don’t   TEXT\nme"), "don t text me");
  assert.equal(normalizeReply("Ｓｔｏｐ"), "stop");
  assert.equal(normalizeReply("Café"), "cafe");
});

Deno.test("keywords: property — any text containing a standalone STOP is an opt-out", () => {
  const word = fc.stringMatching(/^[a-z]{1,8}$/);
  fc.assert(
    fc.property(fc.array(word, { maxLength: 6 }), fc.array(word, { maxLength: 6 }), (a, b) => {
      const text = [...a, "STOP", ...b].join(" ");
      assert.equal(classifyKeyword(text), "opt_out");
    }),
    { numRuns: 500 },
  );
  fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => {
    assert.ok(["opt_out", "opt_in", "help", "other"].includes(classifyKeyword(s)));
  }));
});

// ---------------------------------------------------------------------------------------------
// Revocation by any reasonable means (issue 19 item 5). The reference is the rule's wording,
// 47 CFR § 64.1200(a)(10) as amended by FCC 24-24 (in force 2025-04-11):
//   "using the words 'stop,' 'quit,' 'end,' 'revoke,' 'opt out,' 'cancel,' or 'unsubscribe' sent
//   in reply to an incoming text message ... constitutes a reasonable means per se to revoke
//   consent." and "If a reply to an incoming text message uses words other than [those], the
//   caller must treat that reply text as a valid revocation request if a reasonable person would
//   understand those words to have conveyed a request to revoke consent."

/** The seven words the rule lists, per se revocations alone or inside any reply. */
const FCC_PER_SE = ["stop", "quit", "end", "revoke", "opt out", "cancel", "unsubscribe"];

/** "words other than" the listed ones that a reasonable person reads as "stop texting me". */
const REASONABLE_PERSON: string[] = [
  "please don't message me again",
  "Please do not text me anymore",
  "Never text me again",
  "take me off your list",
  "Take me off the list please",
  "can you take my number off",
  "I no longer want these",
  "I no longer wish to receive these messages",
  "i dont want these texts",
  "I don't want your messages anymore",
  "I don't want them anymore",
  "no more texts",
  "No more messages please",
  "no more promo texts!!",
  "No more",
  "Enough already",
  "don't send me these",
  "Please don't send me any more texts",
  "remove me",
  "Please remove my number",
  "delete my number from your system",
  "I'm not interested",
  "why do you keep texting me",
  "This is spam",
  "leave me alone",
  "you have the wrong number",
  "lose my number",
  "No thanks",
  // Spanish.
  "No me manden más mensajes",
  "no me envíen mensajes",
  "Dejen de enviarme mensajes",
  "deja de escribirme",
  "Ya no quiero recibir mensajes",
  "no quiero más mensajes",
  "no más mensajes por favor",
  "Quiero darme de baja",
  "dar de baja",
  "bórrenme de su lista",
  "sáquenme de la lista",
  "No me interesa",
  "número equivocado",
  "quiero cancelar los mensajes",
  "Por favor detener los mensajes",
  // French.
  "Ne m'envoyez plus de messages",
  "ne me contactez plus",
  "Arrêtez de m'envoyer des SMS",
  "arrête de m'écrire",
  "je ne veux plus recevoir vos messages",
  "Je souhaite me désabonner",
  "désinscrivez-moi svp",
  "retirez-moi de votre liste",
  "Plus de messages svp",
  "mauvais numéro",
];

/** Evident misspellings of an opt-out word sent alone (`isMisspelling`). */
const MISSPELLINGS: [string, string][] = [
  ["STPO", "stop"],
  ["stpo", "stop"],
  ["sotp", "stop"],
  ["Tsop", "stop"],
  ["stp", "stop"],
  ["stip", "stop"],
  ["sttop", "stop"],
  ["stoop!", "stop"],
  ["Stpo.", "stop"],
  ["qiut", "quit"],
  ["quti", "quit"],
  ["unsubscibe", "unsubscribe"],
  ["Unsubscirbe", "unsubscribe"],
  ["unsubscrib", "unsubscribe"],
  ["unsusbcribe", "unsubscribe"],
  ["cancle", "cancel"],
  ["CANCELL", "cancel"],
  ["revok", "revoke"],
  ["optuot", "optout"],
  ["stopal", "stopall"],
  ["canselar", "cancelar"],
  ["detenr", "detener"],
  ["desabonez", "desabonner"],
  ["desuscrbir", "desuscribir"],
];

/** Everyday words near an opt-out keyword: nobody means "stop" by them. */
const NEAR_MISSES = [
  "step",
  "stops?!",
  "top",
  "atop",
  "shop",
  "spot",
  "quite",
  "quiz",
  "suit",
  "quilt",
  "cancer",
  "subscribe",
  "remote",
  "start",
  "stat",
  "stoic",
  "unstop",
  "ends",
  "fine",
  "baby",
  "alta",
  "pare-brise",
];

/** Ordinary conversation with no stop meaning, in English, Spanish and French: always `other`. */
const ORDINARY: string[] = [
  "see you at the end of the week",
  "thanks!",
  "what time do you open?",
  "Thank you so much",
  "Ok",
  "Sounds good",
  "Can I move my cleaning to Friday?",
  "Is this open on Sunday?",
  "I'll be there at 3",
  "Running 10 minutes late",
  "Do you have parking?",
  "How much is a haircut?",
  "Great, see you then",
  "Perfect 👍",
  "Who is this?",
  "What's the address again?",
  "Can I bring my dog?",
  "Is the sale still on at the end of the month?",
  "We loved it, 5 stars",
  "Sure, 2pm works",
  "don't send me the bill yet, my husband pays",
  "I don't want any onions on mine",
  "No, I can't make it today",
  "no",
  "Top service",
  "Quite good actually",
  "The weekend works better",
  "Can I get more info on the spa package?",
  "I stopped by yesterday",
  "Nobody answered the phone",
  "Happy holidays!",
  "ok thx",
  "Please remove the mushrooms from my order",
  "keep sending me updates, love them",
  "no need to text me back",
  "Is the blue one off the list?",
  // Spanish.
  "¿A qué hora abren?",
  "Gracias, nos vemos mañana",
  "para mañana por favor",
  "Nos vemos el fin de semana",
  "El precio es muy alto",
  "Llego en 10 minutos",
  "¿Tienen estacionamiento?",
  "Sí, a las 3 está bien",
  "no más de 3 personas",
  "Perfecto, muchas gracias",
  // French.
  "Merci, à bientôt",
  "Je serai là à 15h",
  "l'arrêt de bus est devant",
  "C'est parfait, merci",
  "Vous êtes ouverts dimanche ?",
  "plus de pain svp",
  "À quelle heure fermez-vous ?",
];

Deno.test("revocation: the seven words the rule lists, alone and inside replies", () => {
  for (const word of FCC_PER_SE) {
    for (const reply of [word, word.toUpperCase(), `${word}!`, `please ${word}`, `${word} now`]) {
      assert.equal(classifyKeyword(reply), "opt_out", reply);
    }
  }
});

Deno.test("revocation: words a reasonable person reads as a request to stop", () => {
  assert.ok(REASONABLE_PERSON.length >= 50);
  for (const reply of REASONABLE_PERSON) {
    const match = classifyReply(reply);
    assert.equal(match.kind, "opt_out", reply);
    assert.ok(match.via === "contains" || match.via === "exact", reply);
    assert.ok(match.matched, reply);
  }
});

Deno.test("revocation: evident misspellings of an opt-out word sent alone", () => {
  for (const [reply, keyword] of MISSPELLINGS) {
    assert.deepEqual(
      classifyReply(reply),
      { kind: "opt_out", matched: keyword, via: "fuzzy" },
      reply,
    );
  }
  for (const word of NEAR_MISSES) {
    assert.notEqual(classifyReply(word).via, "fuzzy", word);
    assert.notEqual(classifyKeyword(word), "opt_out", word);
  }
  // Only a reply of one word (politeness aside) is guessed at; not a word inside a sentence.
  assert.equal(classifyKeyword("stpo stpo"), "opt_out");
  assert.deepEqual(classifyReply("pls stpo"), { kind: "opt_out", matched: "stop", via: "fuzzy" });
  assert.equal(classifyKeyword("Unsubscibe please, thank you"), "opt_out");
  assert.equal(classifyKeyword("stpo now!"), "opt_out");
  assert.equal(classifyKeyword("the stpo"), "other");
  assert.equal(classifyKeyword("step now please"), "other");
  assert.equal(fuzzyBudget("cancel"), 1);
  assert.equal(fuzzyBudget("unsubscribe"), 2);
  assert.equal(isMisspelling("end"), null);
  assert.equal(isMisspelling("stop"), null);
  assert.equal(isMisspelling("st0p"), null);
});

Deno.test("revocation: Twilio's, AWS's, Spanish and French opt-out keywords, exact", () => {
  const all = [
    ...OPT_OUT_KEYWORDS,
    ...AWS_OPT_OUT_KEYWORDS,
    ...SPANISH_OPT_OUT_KEYWORDS,
    ...FRENCH_OPT_OUT_KEYWORDS,
  ];
  for (const k of all) {
    for (
      const reply of [k, k.toLowerCase(), ` ${k}. `, k.normalize("NFD").replace(/\p{M}/gu, "")]
    ) {
      assert.deepEqual(
        classifyReply(reply),
        { kind: "opt_out", matched: normalizeReply(k), via: "exact" },
        reply,
      );
    }
  }
  for (const k of ["PARAR", "PARA", "DETENER", "CANCELAR", "BAJA", "ALTO", "FIN"]) {
    assert.ok((SPANISH_OPT_OUT_KEYWORDS as readonly string[]).includes(k), k);
  }
  for (const k of ["ARRÊT", "ARRÊTER", "DÉSABONNER", "STOPPER"]) {
    assert.ok((FRENCH_OPT_OUT_KEYWORDS as readonly string[]).includes(k), k);
  }
  assert.equal(classifyKeyword("Arrêt"), "opt_out");
  assert.equal(classifyKeyword("DESABONNER"), "opt_out");
  assert.equal(classifyKeyword("no mas"), "opt_out");
  // Help in other languages; opt-in stays English and exact.
  for (const k of OTHER_HELP_KEYWORDS) assert.equal(classifyKeyword(k), "help", k);
  for (const reply of ["SI", "Sí", "oui", "OUI", "comenzar", "commencer", "Yes please"]) {
    assert.equal(classifyKeyword(reply), "other", reply);
  }
});

Deno.test("revocation: ordinary conversation stays other", () => {
  assert.ok(ORDINARY.length >= 45);
  for (const reply of ORDINARY) assert.equal(classifyKeyword(reply), "other", reply);
  // Ambiguous on purpose, decided as opt-outs (docs/compliance.md): a stop word is a stop word.
  for (const reply of ["can you stop by at 3?", "don't stop the good work", "end of the line"]) {
    assert.equal(classifyKeyword(reply), reply.startsWith("end of") ? "other" : "opt_out", reply);
  }
});

/** Random case, spacing and punctuation around and between the words of `text`. */
function garble(text: string): fc.Arbitrary<string> {
  const words = text.split(/\s+/);
  const sep = fc.constantFrom(" ", "  ", " \n", "\t", " - ", "... ");
  return fc.tuple(
    fc.array(fc.boolean(), { minLength: text.length, maxLength: text.length }),
    fc.array(sep, { minLength: words.length, maxLength: words.length }),
    fc.constantFrom("", " ", "!", "!!!", ".", "?", " :)", '"', "'"),
    fc.constantFrom("", " ", '"', "¡", "¿", "> "),
  ).map(([upper, seps, tail, head]) => {
    let i = 0;
    const cased = words.map((w) =>
      [...w].map((ch) => (upper[i++ % upper.length] ? ch.toUpperCase() : ch.toLowerCase()))
        .join("")
    );
    return head + cased.map((w, j) => (j === 0 ? w : seps[j] + w)).join("") + tail;
  });
}

const FILLER = fc.stringMatching(/^[a-z]{1,8}$/).filter((w) => w !== "of");

Deno.test("revocation property: a listed word as a whole word anywhere is an opt-out", () => {
  fc.assert(
    fc.property(
      fc.array(FILLER, { maxLength: 8 }),
      fc.constantFrom(...FCC_PER_SE),
      fc.array(FILLER, { maxLength: 8 }),
      (before, word, after) => {
        const text = [...before, word, ...after].join(" ");
        assert.equal(classifyKeyword(text), "opt_out", text);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("revocation property: any casing, spacing and punctuation of an opt-out keyword", () => {
  const keywords = [
    ...OPT_OUT_KEYWORDS,
    ...AWS_OPT_OUT_KEYWORDS,
    ...SPANISH_OPT_OUT_KEYWORDS,
    ...FRENCH_OPT_OUT_KEYWORDS,
    "opt out",
    "stop all",
  ];
  fc.assert(
    fc.property(fc.constantFrom(...keywords).chain(garble), (reply) => {
      assert.equal(classifyReply(reply).via, "exact", JSON.stringify(reply));
      assert.equal(classifyKeyword(reply), "opt_out", JSON.stringify(reply));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.constantFrom(...REASONABLE_PERSON).chain(garble), (reply) => {
      assert.equal(classifyKeyword(reply), "opt_out", JSON.stringify(reply));
    }),
    { numRuns: 500 },
  );
});

Deno.test("revocation property: ordinary sentences, alone or together, never opt out", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.constantFrom(...ORDINARY).chain(garble).map((one) => [one]),
        // Joined, sentences of three words or more: "no" + "thanks!" would be a decline.
        fc.array(
          fc.constantFrom(...ORDINARY.filter((o) => o.split(" ").length >= 3)).chain(garble),
          {
            minLength: 2,
            maxLength: 3,
          },
        ),
      ),
      (parts) => {
        const reply = parts.join(" ");
        assert.equal(classifyKeyword(reply), "other", JSON.stringify(reply));
      },
    ),
    { numRuns: 1000 },
  );
});

/** Every single-letter edit of `word` after its first letter. */
function edits(word: string): fc.Arbitrary<string> {
  const letter = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz");
  const at = fc.integer({ min: 1, max: word.length - 1 });
  return fc.oneof(
    at.map((i) => word.slice(0, i) + word.slice(i + 1)),
    fc.tuple(at, letter).map(([i, c]) => word.slice(0, i) + c + word.slice(i)),
    fc.tuple(at, letter).map(([i, c]) => word.slice(0, i) + c + word.slice(i + 1)),
    at.filter((i) => i < word.length - 1).map((i) =>
      word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2)
    ),
  );
}

Deno.test("revocation property: one edit of a long opt-out keyword, sent alone, opts out", () => {
  fc.assert(
    fc.property(fc.constantFrom(...FUZZY_LONG).chain(edits), (reply) => {
      fc.pre(!FUZZY_EXCEPTIONS.has(reply));
      assert.equal(classifyKeyword(reply), "opt_out", reply);
      assert.equal(classifyKeyword(reply.toUpperCase() + "!"), "opt_out", reply);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("revocation property: typing slips of STOP/QUIT opt out, other edits do not", () => {
  const slips = (w: string) => [
    ...[...Array(w.length - 1).keys()].map((i) => w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2)),
    ...[...Array(w.length - 1).keys()].map((i) => w.slice(0, i + 1) + w.slice(i + 2)),
    ...[...Array(w.length).keys()].map((i) => w.slice(0, i + 1) + w[i] + w.slice(i + 1)),
  ];
  for (const keyword of FUZZY_SHORT) {
    for (const slip of slips(keyword)) {
      const match = classifyReply(slip);
      assert.equal(match.kind, "opt_out", slip);
      // "stopp" is an exact extra; every other slip is found as a misspelling.
      assert.equal(match.via, slip === keyword || slip === "stopp" ? "exact" : "fuzzy", slip);
    }
  }
  // A letter after the first replaced by one far away on the keyboard makes another word
  // ("stap", "quot" is a slip but "quat" is not). No letter of the bottom row or "a" is a
  // neighbour of t, o, p, u or i.
  fc.assert(
    fc.property(
      fc.constantFrom(...FUZZY_SHORT),
      fc.integer({ min: 1, max: 3 }),
      fc.constantFrom(..."azxcvbnm"),
      (keyword, i, c) => {
        const reply = keyword.slice(0, i) + c + keyword.slice(i + 1);
        assert.notEqual(classifyReply(reply).via, "fuzzy", reply);
        assert.equal(classifyKeyword(reply), "other", reply);
      },
    ),
  );
  assert.equal(classifyReply("stap").via, null);
  assert.equal(classifyReply("quot").via, "fuzzy");
});

Deno.test("revocation property: opt-in and help stay exact keywords", () => {
  const word = fc.stringMatching(/^[a-z]{2,8}$/).filter((w) =>
    classifyKeyword(w) === "other" && w !== "yes" && w !== "start"
  );
  fc.assert(
    fc.property(
      fc.constantFrom(...OPT_IN_KEYWORDS, ...HELP_KEYWORDS, ...OTHER_HELP_KEYWORDS),
      fc.array(word, { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      (keyword, others, first) => {
        const reply = first ? [keyword, ...others].join(" ") : [...others, keyword].join(" ");
        fc.pre(new Set([keyword.toLowerCase(), ...others]).size > 1);
        const kind = classifyKeyword(reply);
        assert.ok(kind === "other" || kind === "opt_out", `${reply} → ${kind}`);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("revocation property: the class depends only on the normalised reply", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      assert.deepEqual(classifyReply(s), classifyReply(normalizeReply(s)));
    }),
    { numRuns: 1000 },
  );
});
