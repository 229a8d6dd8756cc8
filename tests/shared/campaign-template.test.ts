import assert from "node:assert/strict";
import fc from "fast-check";
import {
  customerVariables,
  parseTemplate,
  renderCampaignMessage,
  renderTemplate,
  TEMPLATE_VARIABLES,
} from "@shared/campaign/template.ts";

const ann = customerVariables("  Ann \t Marie\n Smith ", " Joe's \u00a0 Pizza ");

Deno.test("template: parse lists the known names once, in order of first use", () => {
  assert.deepEqual(
    parseTemplate("Hi {{ first_name }}, {{full_name|friend}} at {{business_name}}! {{first_name}}"),
    { ok: true, variables: ["first_name", "full_name", "business_name"] },
  );
  assert.deepEqual(parseTemplate("No placeholders, {single} braces, }} and {{"), {
    ok: true,
    variables: [],
  });
});

Deno.test("template: parse reports each unknown name, or raw content that does not parse, once", () => {
  assert.deepEqual(
    parseTemplate(
      "{{First_Name}} {{ nickname | pal }} {{first_name}} {{nickname}} {{two words}} {{}} " +
        "{{a|b|c}} {{ |x}}",
    ),
    { ok: false, unknown: ["First_Name", "nickname", "two words", "", "a|b|c", " |x"] },
  );
  // Leftmost match, no nesting: "{{{first_name}}}" is "{" + a placeholder + "}".
  assert.deepEqual(parseTemplate("{{{first_name}}}"), { ok: true, variables: ["first_name"] });
});

Deno.test("template: customer values collapse whitespace and split on it", () => {
  assert.deepEqual(ann, {
    first_name: "Ann",
    last_name: "Smith",
    full_name: "Ann Marie Smith",
    business_name: "Joe's Pizza",
  });
  assert.deepEqual(customerVariables("Cher", "B"), {
    first_name: "Cher",
    last_name: "",
    full_name: "Cher",
    business_name: "B",
  });
  assert.deepEqual(customerVariables(" \n ", ""), {
    first_name: "",
    last_name: "",
    full_name: "",
    business_name: "",
  });
});

Deno.test("template: render uses the value, else the trimmed fallback, else ''", () => {
  const cher = customerVariables("Cher", "Joe's");
  assert.equal(
    renderTemplate("Hi {{first_name}} {{ last_name | }}{{last_name|  the Great  }}!", cher),
    "Hi Cher the Great!",
  );
  assert.equal(renderTemplate("Hi {{last_name}}.", cher), "Hi .");
  // Unknown or unparsable: '' (fallback ignored); stray braces are text; $ patterns are not.
  assert.equal(renderTemplate("{{nick|pal}}{{a b}}{x}} {{first_name}}", cher), "{x}} Cher");
  assert.equal(renderTemplate("{{first_name}}", { first_name: "$&$1" }), "$&$1");
  // One pass: a value that looks like a placeholder is not expanded again.
  assert.equal(renderTemplate("{{first_name}}", { first_name: "{{last_name}}" }), "{{last_name}}");
  // Neither is a placeholder formed by literal braces around an empty one.
  assert.equal(renderTemplate("{{{first_name}}{last_name}}", {}), "{{last_name}}");
});

Deno.test("disclosure: brand prefix and STOP suffix only where missing", () => {
  const disclose = { disclose: true, brand: "Joe's Pizza" };
  assert.equal(
    renderCampaignMessage("Hi {{first_name}}, 2-for-1 today!", ann, disclose),
    "Joe's Pizza: Hi Ann, 2-for-1 today! Reply STOP to opt out.",
  );
  assert.equal(
    renderCampaignMessage("  Hi {{first_name}}  ", ann, { ...disclose, disclose: false }),
    "Hi Ann",
  );
  // The template names the business (even when its value is empty): no prefix.
  assert.equal(
    renderCampaignMessage("{{ business_name|x }} says hi", { business_name: "" }, disclose),
    "x says hi Reply STOP to opt out.",
  );
  // The brand already in the text, ASCII case ignored: no prefix.
  assert.equal(
    renderCampaignMessage("JOE'S PIZZA deals. Text stop to end", ann, disclose),
    "JOE'S PIZZA deals. Text stop to end",
  );
  // "stop" must be a word of its own; "STOP." and "(Stop)" are, "stopover" and "nonstop" not.
  for (const text of ["Reply STOP.", "(Stop) anytime", "stop"]) {
    assert.ok(!renderCampaignMessage(text, ann, disclose).endsWith("opt out."), text);
  }
  for (const text of ["stopover", "nonstop deals", "stop_now", "stop2"]) {
    assert.ok(renderCampaignMessage(text, ann, disclose).endsWith(" Reply STOP to opt out."), text);
  }
  // Only ASCII letters fold: the Kelvin sign and long s are not k and s.
  assert.equal(
    renderCampaignMessage("\u017Ftop", ann, { disclose: true, brand: "K" }),
    "K: \u017Ftop Reply STOP to opt out.",
  );
  assert.equal(
    renderCampaignMessage("\u212A deals", ann, { disclose: true, brand: "k" }),
    "k: \u212A deals Reply STOP to opt out.",
  );
  // An empty brand adds no prefix; an empty rendering still gets the suffix, trimmed.
  assert.equal(
    renderCampaignMessage("{{last_name}}", {}, { disclose: true, brand: " " }),
    "Reply STOP to opt out.",
  );
  // The brand is collapsed like business_name before it is looked for.
  assert.equal(
    renderCampaignMessage("Joe's Pizza: hi. STOP=end", ann, {
      disclose: true,
      brand: "Joe's  Pizza",
    }),
    "Joe's Pizza: hi. STOP=end",
  );
});

// Text without braces, so that neither literals nor values can form placeholders.
const plain = fc.string({ unit: "grapheme", maxLength: 12 }).map((s) => s.replace(/[{}]/g, ""));
const ws = fc.constantFrom("", " ", "  ", "\t", "\u00a0");
const known = fc.constantFrom(...TEMPLATE_VARIABLES);
const unknownName = fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/).filter((n) =>
  !(TEMPLATE_VARIABLES as readonly string[]).includes(n)
);
const fallback = fc.option(plain.map((s) => s.replace(/\|/g, "")), { nil: undefined });
const placeholder = (name: fc.Arbitrary<string>) =>
  fc.record({ name, before: ws, after: ws, fallback }).map((p) => ({
    name: p.name,
    text: `{{${p.before}${p.name}${p.after}${p.fallback === undefined ? "" : `|${p.fallback}`}}}`,
  }));
const values = fc.record({
  first_name: plain,
  last_name: plain,
  full_name: plain,
  business_name: plain,
}, { requiredKeys: [] });

Deno.test("template: property — rendering leaves no known placeholder", () => {
  const piece = fc.oneof(plain.map((text) => ({ name: null, text })), placeholder(known));
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 8 }), values, (pieces, vals) => {
      const template = pieces.map((p) => p.text).join("");
      const names = pieces.flatMap((p) => p.name === null ? [] : [p.name]);
      assert.deepEqual(parseTemplate(template), { ok: true, variables: [...new Set(names)] });
      const out = renderTemplate(template, vals);
      for (const m of out.matchAll(/\{\{([^{}]*)\}\}/g)) {
        assert.ok(!(TEMPLATE_VARIABLES as readonly string[]).includes(m[1].trim()), out);
      }
      assert.ok(!/[{}]/.test(out), out);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("template: property — every unknown name is reported, and only those", () => {
  const piece = fc.oneof(
    plain.map((text) => ({ name: null, known: false, text })),
    placeholder(known).map((p) => ({ ...p, known: true })),
    placeholder(unknownName).map((p) => ({ ...p, known: false })),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
      const template = pieces.map((p) => p.text).join("");
      const unknown = [
        ...new Set(pieces.flatMap((p) => p.name !== null && !p.known ? [p.name] : [])),
      ];
      const result = parseTemplate(template);
      if (unknown.length === 0) assert.equal(result.ok, true);
      else assert.deepEqual(result, { ok: false, unknown });
    }),
    { numRuns: 1000 },
  );
});

Deno.test("disclosure: property — a disclosed message names its sender and says STOP", () => {
  const piece = fc.oneof(plain, placeholder(known).map((p) => p.text));
  fc.assert(
    fc.property(
      fc.array(piece, { maxLength: 6 }),
      values,
      plain.filter((b) => /[A-Za-z]/.test(b)),
      (pieces, vals, brand) => {
        const template = pieces.join("");
        const out = renderCampaignMessage(template, vals, { disclose: true, brand });
        assert.match(out, /\bstop\b/i);
        const b = brand.replace(/\s+/g, " ").trim().toLowerCase();
        assert.ok(out.toLowerCase().includes(b) || /business_name/.test(template), out);
        assert.equal(out, out.trim());
      },
    ),
    { numRuns: 1000 },
  );
});
