import assert from "node:assert/strict";
import {
  federalHolidays,
  holidaysIn,
  isHoliday,
  isHolidayDay,
} from "@shared/compliance/holidays.ts";

const dates = (list: { date: string }[]) => list.map((h) => h.date);

Deno.test("holidays: the federal calendar of 2026 (5 U.S.C. § 6103), observed Friday for July 4", () => {
  assert.deepEqual(dates(federalHolidays(2026)), [
    "2026-01-01",
    "2026-01-19",
    "2026-02-16",
    "2026-05-25",
    "2026-06-19",
    "2026-07-03", // Independence Day on a Saturday: observed Friday
    "2026-07-04",
    "2026-09-07",
    "2026-10-12",
    "2026-11-11",
    "2026-11-26",
    "2026-12-25",
  ]);
  assert.ok(federalHolidays(2026).find((h) => h.date === "2026-07-03")?.observed);
});

Deno.test("holidays: 2027 — Sunday holidays move to Monday, a Saturday New Year to Friday Dec 31", () => {
  const list = dates(federalHolidays(2027));
  assert.ok(list.includes("2027-07-05")); // July 4 is a Sunday
  assert.ok(list.includes("2027-06-18")); // Juneteenth is a Saturday
  assert.ok(list.includes("2027-12-24")); // Christmas is a Saturday
  assert.ok(list.includes("2027-12-31")); // New Year's Day 2028 is a Saturday
  assert.ok(!list.includes("2027-12-27")); // the federal rule does not also close the Monday
  assert.equal(federalHolidays(2020).some((h) => h.name.startsWith("Juneteenth")), false);
  assert.equal(federalHolidays(2021).some((h) => h.name.startsWith("Juneteenth")), true);
});

Deno.test("holidays: Alabama (Ala. Code § 1-3-8) adds its state days, Mardi Gras from Easter", () => {
  const al = dates(holidaysIn("AL", 2026));
  for (const day of ["2026-02-17", "2026-04-27", "2026-06-01"]) assert.ok(al.includes(day), day);
  assert.ok(isHoliday("AL", "2027-02-09")); // Easter 2027 is March 28
  assert.ok(!isHoliday("US", "2026-04-27"));
});

Deno.test("holidays: Rhode Island (R.I. Gen. Laws § 25-1-1): Victory Day, May 4, election years", () => {
  assert.ok(isHoliday("RI", "2026-08-10"));
  assert.ok(isHoliday("RI", "2026-05-04"));
  assert.ok(isHoliday("RI", "2026-11-03"));
  assert.ok(!isHoliday("RI", "2027-11-02"));
  // A Saturday Christmas closes the Friday (federal) and the Monday (state) too.
  for (const day of ["2027-12-24", "2027-12-25", "2027-12-27"]) assert.ok(isHoliday("RI", day));
  assert.ok(isHolidayDay("RI", Date.UTC(2026, 7, 10)));
  assert.ok(!isHolidayDay("RI", Date.UTC(2026, 7, 11)));
});

Deno.test("holidays: every year has its fixed holidays once, sorted, 1990–2100", () => {
  for (let year = 1990; year <= 2100; year++) {
    const list = holidaysIn("RI", year);
    const sorted = [...list].sort((a, b) => a.date.localeCompare(b.date));
    assert.deepEqual(list, sorted);
    assert.ok(list.every((h) => h.date.startsWith(`${year}-`)));
    assert.ok(list.some((h) => h.date === `${year}-12-25`));
    assert.equal(list.filter((h) => h.name === "Thanksgiving Day").length, 1);
    const thanksgiving = new Date(`${list.find((h) => h.name === "Thanksgiving Day")!.date}Z`);
    assert.equal(thanksgiving.getUTCDay(), 4);
    assert.ok(thanksgiving.getUTCDate() >= 22 && thanksgiving.getUTCDate() <= 28);
  }
});
