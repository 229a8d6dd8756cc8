/**
 * HTTP Basic authentication as Twilio's REST API does it: username = Account SID,
 * password = Auth Token.
 * @module
 */

/** Whether an `Authorization` header carries exactly this account's credentials. */
export function isAuthorized(
  header: string | null,
  accountSid: string,
  authToken: string,
): boolean {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!match) return false;
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(Uint8Array.from(atob(match[1]), (c) => c.charCodeAt(0)));
  } catch {
    return false;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return false;
  // Evaluate both halves before combining so a wrong SID costs the same time as a wrong token.
  const userOk = constantTimeEqual(decoded.slice(0, colon), accountSid);
  const passOk = constantTimeEqual(decoded.slice(colon + 1), authToken);
  return userOk && passOk;
}

/** String comparison whose duration does not depend on where the strings differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
