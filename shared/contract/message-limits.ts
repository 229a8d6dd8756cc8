/**
 * The send limit on a message's length, shared by send-sms and the frontend so both refuse the
 * same bodies with the same facts: characters, segments, encoding and the characters that forced
 * UCS-2 (so a user can replace them).
 *
 * @module
 */
import { SmsError } from "./errors.ts";
import { analyzeSegments, type SegmentAnalysis } from "../text/segments.ts";
import { DEFAULT_MAX_BODY_CHARS } from "./schemas.ts";

/** Two segments: the product's soft limit (cost and readability), configurable per deployment. */
export const DEFAULT_MAX_SEGMENTS = 2;

/** Limits on one message. */
export interface MessageLimits {
  /** Most segments a message may take (default 2). */
  maxSegments?: number;
  /** Most characters (code points) a message may have (default 320). */
  maxChars?: number;
  /** Count as Twilio does with `SmartEncoded` (the deployment's `TWILIO_SMART_ENCODED`). */
  smartEncoding?: boolean;
}

/** A body's length facts, as the frontend shows them and errors report them. */
export interface MessageLengthFacts {
  characters: number;
  segments: number;
  encoding: SegmentAnalysis["encoding"];
  nonGsmCharacters: string[];
  maxSegments: number;
  maxChars: number;
}

/** Counts a body and compares it with the limits. */
export function measureMessage(
  body: string,
  limits: MessageLimits = {},
): MessageLengthFacts & { withinLimits: boolean } {
  const analysis = analyzeSegments(body, { smartEncoding: limits.smartEncoding });
  const maxSegments = limits.maxSegments ?? DEFAULT_MAX_SEGMENTS;
  const maxChars = limits.maxChars ?? DEFAULT_MAX_BODY_CHARS;
  const characters = [...body].length;
  return {
    characters,
    segments: analysis.segments,
    encoding: analysis.encoding,
    nonGsmCharacters: analysis.nonGsmCharacters,
    maxSegments,
    maxChars,
    withinLimits: characters <= maxChars && analysis.segments <= maxSegments,
  };
}

/** `message_too_long` with the facts, or `null` when the body fits. */
export function checkMessageLength(body: string, limits: MessageLimits = {}): SmsError | null {
  const { withinLimits, ...facts } = measureMessage(body, limits);
  if (withinLimits) return null;
  const forcedBy = facts.nonGsmCharacters.length
    ? `; ${facts.nonGsmCharacters.slice(0, 10).join(" ")} made it UCS-2`
    : "";
  return new SmsError(
    "message_too_long",
    `Message is ${facts.characters} characters, ${facts.segments} ${facts.encoding} segments; ` +
      `the limit is ${facts.maxSegments} segments and ${facts.maxChars} characters${forcedBy}`,
    { details: { ...facts } },
  );
}
