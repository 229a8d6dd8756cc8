/**
 * Schemas of phone fields, in zod over libphonenumber-js (`compliance/phone.ts`): a stored
 * E.164 number, and a number as people type it, normalised to E.164. Apart from `schemas.ts` so
 * that parsing a request without phone fields does not load libphonenumber's metadata.
 *
 * @module
 */

import * as z from "zod/mini";
import { normalizePhone, type NormalizePhoneOptions } from "../compliance/phone.ts";

/**
 * An E.164 phone number (`+` and 8 to 15 digits), as `customers.phone` stores it: one its
 * country's numbering plan has (not `+99912345678`: no country uses 999), written as the plan
 * writes it (`+494000000`, not `+4904000000`).
 */
export const e164PhoneSchema: z.ZodMiniType<string, unknown> = /* @__PURE__ */ z.string({
  error: "must be a string",
}).check(
  z.regex(/^\+[1-9]\d{7,14}$/, {
    error: "must be an E.164 phone number such as +14155552671",
    abort: true,
  }),
  z.superRefine((value, ctx) => {
    const result = normalizePhone(value);
    if (!result.ok) ctx.addIssue({ code: "custom", input: value, message: result.message });
    else if (result.e164 !== value) {
      ctx.addIssue({ code: "custom", input: value, message: `must be written ${result.e164}` });
    }
  }),
);

/** Builds a schema that accepts a phone as people type it and outputs E.164. */
export function createPhoneInputSchema(
  options: NormalizePhoneOptions = {},
): z.ZodMiniType<string, unknown> {
  return z.pipe(
    z.string({ error: "must be a string" }),
    z.transform((value: string, ctx) => {
      const result = normalizePhone(value, options);
      if (result.ok) return result.e164;
      ctx.issues.push({ code: "custom", message: result.message, input: value });
      return z.NEVER;
    }),
  );
}

/** Phone input normalised with US as default country. */
export const phoneInputSchema: z.ZodMiniType<string, unknown> = /* @__PURE__ */
  createPhoneInputSchema();
