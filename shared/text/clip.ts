/**
 * Cutting text to a length without splitting a character.
 *
 * @module
 */

/**
 * `text` cut to at most `max` UTF-16 units, never between the two halves of a surrogate pair
 * (an emoji): jsonb refuses a lone half, and the whole request would fail.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}
