// Each line marked FAIL must be a type error, and no other line may be: the test compares the
// line numbers tsc reports with these.
import { measureMessage, type SendSmsOutcome } from "@sms-foundation/client";
import { sendSms } from "@sms-foundation/client/dist/contract/client.js"; // FAIL: only "." is exported

declare const outcome: SendSmsOutcome;
export const logId: string = outcome.data.sendLogId; // FAIL: narrow on `ok` first
export const segments: string = measureMessage("Hi").segments; // FAIL: a number, not a string
export { sendSms };
