/**
 * North American Numbering Plan area codes → country, US state / Canadian province, and IANA time
 * zones.
 *
 * Where an area code covers places on different clocks (the Florida panhandle, western Kansas,
 * Arizona's Navajo Nation, British Columbia's Peace River and Kootenays…), every candidate zone is
 * listed; quiet hours then use the intersection of their windows. Zones are tzdb names for the
 * distinct clocks in the area, not every alias (America/Juneau keeps Anchorage's clock, so
 * Alaska lists Anchorage and Adak only).
 *
 * Sources: NANPA area code assignments (nationalnanpa.com, "Area Code Maps" and planning letters
 * for overlays in service through 2025) and the tz database's zone descriptions (zone1970.tab).
 * Non-geographic codes (toll-free 8XX, 500-series, 600, 700, 900) are deliberately absent: they
 * say nothing about where the recipient is.
 *
 * @module
 */

/** Location facts of one area code. */
export interface AreaCodeInfo {
  /** The three-digit area code. */
  areaCode: string;
  /** ISO 3166-1 alpha-2 country (US for the states, DC and territories). */
  country: string;
  /** USPS state / territory or Canadian province codes; empty outside the US and Canada. */
  regions: string[];
  /** Candidate IANA time zones, most populous first. */
  timeZones: string[];
}

const NY = "America/New_York";
const CHI = "America/Chicago";
const DEN = "America/Denver";
const PHX = "America/Phoenix";
const LA = "America/Los_Angeles";
const IND = "America/Indiana/Indianapolis";
const DET = "America/Detroit";
const BOISE = "America/Boise";
const TOR = "America/Toronto";
const WPG = "America/Winnipeg";
const EDM = "America/Edmonton";
const VAN = "America/Vancouver";
const HFX = "America/Halifax";

/** [country, regions, time zones, area codes separated by spaces]. */
type Group = readonly [string, readonly string[], readonly string[], string];

const GROUPS: readonly Group[] = [
  // United States
  ["US", ["AL"], [CHI], "205 251 256 334 659 938"],
  ["US", ["AK"], ["America/Anchorage", "America/Adak"], "907"],
  ["US", ["AZ"], [PHX], "480 520 602 623"],
  // The Navajo Nation (north-east Arizona) observes daylight saving time.
  ["US", ["AZ"], [PHX, DEN], "928"],
  ["US", ["AR"], [CHI], "327 479 501 870"],
  [
    "US",
    ["CA"],
    [LA],
    "209 213 279 310 323 341 350 408 415 424 442 510 530 559 562 619 626 628 650 657 661 " +
    "669 707 714 747 760 805 818 820 831 840 858 909 916 925 949 951",
  ],
  ["US", ["CO"], [DEN], "303 719 720 970 983"],
  ["US", ["CT"], [NY], "203 475 860 959"],
  ["US", ["DE"], [NY], "302"],
  ["US", ["DC"], [NY], "202 771"],
  [
    "US",
    ["FL"],
    [NY],
    "239 305 321 324 352 386 407 561 645 656 689 727 754 772 786 813 863 904 941 954",
  ],
  // The panhandle west of the Apalachicola River is on Central time.
  ["US", ["FL"], [NY, CHI], "448 850"],
  ["US", ["GA"], [NY], "229 404 470 478 678 706 762 770 912 943"],
  ["US", ["HI"], ["Pacific/Honolulu"], "808"],
  // The panhandle north of the Salmon River is on Pacific time.
  ["US", ["ID"], [BOISE, LA], "208 986"],
  [
    "US",
    ["IL"],
    [CHI],
    "217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 872",
  ],
  ["US", ["IN"], [CHI], "219"],
  ["US", ["IN"], [IND], "260 317 463 765"],
  // Starke County (574) and the Evansville corner (812/930) are on Central time.
  ["US", ["IN"], [IND, CHI], "574 812 930"],
  ["US", ["IA"], [CHI], "319 515 563 641 712"],
  ["US", ["KS"], [CHI], "316 913"],
  // Four western counties are on Mountain time.
  ["US", ["KS"], [CHI, DEN], "620 785"],
  ["US", ["KY"], [NY], "502 606 859"],
  ["US", ["KY"], [CHI, NY], "270 364"],
  ["US", ["LA"], [CHI], "225 318 337 504 985"],
  ["US", ["ME"], [NY], "207"],
  ["US", ["MD"], [NY], "227 240 301 410 443 667"],
  ["US", ["MA"], [NY], "339 351 413 508 617 774 781 857 978"],
  ["US", ["MI"], [DET], "231 248 269 313 517 586 616 679 734 810 947 989"],
  // Four Upper Peninsula counties bordering Wisconsin are on Central time.
  ["US", ["MI"], [DET, "America/Menominee"], "906"],
  ["US", ["MN"], [CHI], "218 320 507 612 651 763 952"],
  ["US", ["MS"], [CHI], "228 601 662 769"],
  ["US", ["MO"], [CHI], "235 314 417 557 573 636 660 816 975"],
  ["US", ["MT"], [DEN], "406"],
  ["US", ["NE"], [CHI], "402 531"],
  ["US", ["NE"], [CHI, DEN], "308"],
  ["US", ["NV"], [LA], "702 725"],
  // West Wendover (Elko County) keeps Mountain time.
  ["US", ["NV"], [LA, DEN], "775"],
  ["US", ["NH"], [NY], "603"],
  ["US", ["NJ"], [NY], "201 551 609 640 732 848 856 862 908 973"],
  ["US", ["NM"], [DEN], "505 575"],
  [
    "US",
    ["NY"],
    [NY],
    "212 315 329 332 347 363 516 518 585 607 624 631 646 680 716 718 838 845 914 917 929 934",
  ],
  ["US", ["NC"], [NY], "252 336 472 704 743 828 910 919 980 984"],
  ["US", ["ND"], [CHI, DEN], "701"],
  ["US", ["OH"], [NY], "216 220 234 283 326 330 380 419 436 440 513 567 614 740 937"],
  ["US", ["OK"], [CHI], "405 539 572 580 918"],
  ["US", ["OR"], [LA], "503 971"],
  // Malheur County is on Mountain time.
  ["US", ["OR"], [LA, BOISE], "458 541"],
  [
    "US",
    ["PA"],
    [NY],
    "215 223 267 272 412 445 484 570 582 610 717 724 814 835 878",
  ],
  ["US", ["RI"], [NY], "401"],
  ["US", ["SC"], [NY], "803 821 839 843 854 864"],
  ["US", ["SD"], [CHI, DEN], "605"],
  ["US", ["TN"], [CHI], "615 629 731 901"],
  ["US", ["TN"], [NY], "865"],
  // East Tennessee's 423 reaches Central-time counties; Middle Tennessee's 931 reaches Eastern.
  ["US", ["TN"], [NY, CHI], "423"],
  ["US", ["TN"], [CHI, NY], "931"],
  [
    "US",
    ["TX"],
    [CHI],
    "210 214 254 281 325 346 361 409 430 469 512 682 713 726 737 806 817 830 832 903 936 940 " +
    "945 956 972 979",
  ],
  // Far West Texas: El Paso and Hudspeth counties are on Mountain time.
  ["US", ["TX"], [DEN], "915"],
  ["US", ["TX"], [CHI, DEN], "432"],
  ["US", ["UT"], [DEN], "385 435 801"],
  ["US", ["VT"], [NY], "802"],
  ["US", ["VA"], [NY], "276 434 540 571 686 703 757 804 826 948"],
  ["US", ["WA"], [LA], "206 253 360 425 509 564"],
  ["US", ["WV"], [NY], "304 681"],
  ["US", ["WI"], [CHI], "262 274 353 414 534 608 715 920"],
  ["US", ["WY"], [DEN], "307"],
  // US territories
  ["US", ["PR"], ["America/Puerto_Rico"], "787 939"],
  ["US", ["VI"], ["America/St_Thomas"], "340"],
  ["US", ["GU"], ["Pacific/Guam"], "671"],
  ["US", ["MP"], ["Pacific/Saipan"], "670"],
  ["US", ["AS"], ["Pacific/Pago_Pago"], "684"],
  // Canada
  ["CA", ["AB"], [EDM], "368 403 587 780 825"],
  ["CA", ["BC"], [VAN], "604"],
  // Province-wide overlays and the interior: the Kootenays keep Mountain time and the Peace
  // River region Mountain Standard time all year.
  ["CA", ["BC"], [VAN, EDM, "America/Dawson_Creek"], "236 250 257 672 778"],
  ["CA", ["MB"], [WPG], "204 431 584"],
  ["CA", ["NB"], ["America/Moncton"], "428 506"],
  ["CA", ["NL"], ["America/St_Johns", "America/Goose_Bay"], "709 879"],
  ["CA", ["NS", "PE"], [HFX], "782 902"],
  [
    "CA",
    ["ON"],
    [TOR],
    "226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 905 942",
  ],
  // North-western Ontario (Kenora, Rainy River) is on Central time.
  ["CA", ["ON"], [TOR, WPG], "807"],
  ["CA", ["QC"], [TOR], "263 354 438 450 468 514 579 819 873"],
  // Eastern Quebec: the Magdalen Islands and the Lower North Shore keep Atlantic time.
  ["CA", ["QC"], [TOR, HFX, "America/Blanc-Sablon"], "367 418 581"],
  // Lloydminster keeps Alberta's clock.
  ["CA", ["SK"], ["America/Regina", EDM], "306 474 639"],
  [
    "CA",
    ["YT", "NT", "NU"],
    ["America/Whitehorse", EDM, "America/Rankin_Inlet", "America/Iqaluit"],
    "867",
  ],
  // Other NANP countries (one clock each; no US or Canadian quiet-hours rules apply).
  ["BS", [], ["America/Nassau"], "242"],
  ["BB", [], ["America/Barbados"], "246"],
  ["AI", [], ["America/Anguilla"], "264"],
  ["AG", [], ["America/Antigua"], "268"],
  ["VG", [], ["America/Tortola"], "284"],
  ["KY", [], ["America/Cayman"], "345"],
  ["BM", [], ["Atlantic/Bermuda"], "441"],
  ["GD", [], ["America/Grenada"], "473"],
  ["TC", [], ["America/Grand_Turk"], "649"],
  ["JM", [], ["America/Jamaica"], "658 876"],
  ["MS", [], ["America/Montserrat"], "664"],
  ["SX", [], ["America/Lower_Princes"], "721"],
  ["LC", [], ["America/St_Lucia"], "758"],
  ["DM", [], ["America/Dominica"], "767"],
  ["VC", [], ["America/St_Vincent"], "784"],
  ["DO", [], ["America/Santo_Domingo"], "809 829 849"],
  ["TT", [], ["America/Port_of_Spain"], "868"],
  ["KN", [], ["America/St_Kitts"], "869"],
];

const TABLE: ReadonlyMap<string, AreaCodeInfo> = (() => {
  const map = new Map<string, AreaCodeInfo>();
  for (const [country, regions, timeZones, codes] of GROUPS) {
    for (const areaCode of codes.split(" ")) {
      if (map.has(areaCode)) throw new Error(`area code ${areaCode} listed twice`);
      map.set(areaCode, {
        areaCode,
        country,
        regions: [...regions],
        timeZones: [...timeZones],
      });
    }
  }
  return map;
})();

/** Location facts of a NANP area code, or `null` for unknown and non-geographic codes. */
export function lookupAreaCode(areaCode: string): AreaCodeInfo | null {
  const info = TABLE.get(areaCode);
  return info ? { ...info, regions: [...info.regions], timeZones: [...info.timeZones] } : null;
}

/** The area code of a North American (+1) E.164 number, else `null`. */
export function areaCodeOf(e164: string): string | null {
  return /^\+1[2-9]\d{2}[2-9]\d{6}$/.test(e164) ? e164.slice(2, 5) : null;
}

/** Location facts (country, state/province, time zones) of a +1 number, else `null`. */
export function locatePhone(e164: string): AreaCodeInfo | null {
  const areaCode = areaCodeOf(e164);
  return areaCode ? lookupAreaCode(areaCode) : null;
}

/** Every area code in the table (for tests and admin UIs). */
export function listAreaCodes(): AreaCodeInfo[] {
  return [...TABLE.keys()].sort().map((code) => lookupAreaCode(code)!);
}
