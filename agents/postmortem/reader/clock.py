"""Times, dates and time zones as people write them in incident notes.

`14:02`, `2:15pm`, `9:12 AM`, `11:47:12 PM`; `2025-03-14`, `Mar 14`, `14/03/2025`, `Apr 8, 2025`,
`19 April 2025`; a zone stated once for the whole paste (`all times Pacific`, `times EST`, `UTC+2`,
`SGT / UTC+8`). Dates are read with python-dateutil, zones resolved with zoneinfo so that daylight
saving on the incident's date is applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, available_timezones

from dateutil import parser as dateparser

# A clock time. Not part of a UTC offset (UTC+02:00), a ratio or a longer number.
TIME = re.compile(r"(?<![\d:/.])(?<!UTC[+-])(?<!GMT[+-])(?P<h>[01]?\d|2[0-3])(?::|h(?=\d\d(?!\s*m(?:in)?\b)))"
                  r"(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?(?!\d|:\d|m\b|min)"
                  r"(?:\s*(?P<ap>[ap]\.?m\b\.?))?|(?<![\d:/.])(?P<h12>1[0-2]|0?[1-9])\s*(?P<ap12>[ap]m)\b"
                  r"|(?<![\d:/.#-])(?P<hm>[01]\d|2[0-3])(?P<mm>[0-5]\d)(?=\s*(?:Z|UTC|GMT|hrs)\b)",
                  re.IGNORECASE)
MONTHS = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|" \
         r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
DATE = re.compile(
    rf"(?<![\d-])(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})(?![\d-])"
    rf"|\b{WEEKDAY}(?P<mdy>{MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?P<y1>\d{{4}}))?)\b"
    rf"|\b{WEEKDAY}(?P<dmy>\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTHS}\.?(?:,?\s+(?P<y2>\d{{4}}))?)\b"
    rf"|(?<![\d/])(?P<slash>\d{{1,2}}/\d{{1,2}}(?:/(?P<y3>\d{{2,4}}))?)(?![\d/])",
    re.IGNORECASE)

# Names people give a zone, to the zone a careful reader would use (daylight saving included).
ZONES: dict[str, str] = {
    "pacific": "America/Los_Angeles", "pst": "America/Los_Angeles", "pdt": "America/Los_Angeles",
    "pt": "America/Los_Angeles", "eastern": "America/New_York", "est": "America/New_York",
    "edt": "America/New_York", "et": "America/New_York", "central": "America/Chicago", "cst": "America/Chicago",
    "cdt": "America/Chicago", "mountain": "America/Denver", "mst": "America/Denver", "mdt": "America/Denver",
    "cet": "Europe/Berlin", "cest": "Europe/Berlin", "central european": "Europe/Berlin",
    "uk": "Europe/London", "uk time": "Europe/London", "london": "Europe/London", "bst": "Europe/London",
    "gmt": "Europe/London", "ist": "Asia/Kolkata", "india": "Asia/Kolkata", "sgt": "Asia/Singapore",
    "singapore": "Asia/Singapore", "jst": "Asia/Tokyo", "aest": "Australia/Sydney", "aedt": "Australia/Sydney",
    "sydney": "Australia/Sydney", "eet": "Europe/Athens", "eest": "Europe/Athens", "brt": "America/Sao_Paulo",
    "us eastern": "America/New_York", "us pacific": "America/Los_Angeles", "us central": "America/Chicago",
    "us mountain": "America/Denver", "hkt": "Asia/Hong_Kong",
    "kst": "Asia/Seoul", "nzst": "Pacific/Auckland", "nzdt": "Pacific/Auckland", "awst": "Australia/Perth",
    "acst": "Australia/Adelaide", "sast": "Africa/Johannesburg", "msk": "Europe/Moscow", "pht": "Asia/Manila",
    "wib": "Asia/Jakarta", "akst": "America/Anchorage", "hst": "Pacific/Honolulu",
}
UTC_NAMES = ("utc", "z", "zulu")
_NAME = "|".join(sorted((re.escape(k) for k in [*ZONES, "utc"]), key=len, reverse=True))
# The tz database's own names ("America/New_York") and its cities said with "time" ("Paris time", "New York time").
_REGIONS = ("Europe", "America", "Asia", "Australia", "Africa", "Pacific", "Atlantic", "Indian")
IANA: dict[str, str] = {key.lower(): key for key in available_timezones() if key.startswith(_REGIONS)}
CITIES: dict[str, str] = {key.rsplit("/", 1)[-1].replace("_", " ").lower(): key for key in sorted(IANA.values())}
_REGION_NAMES = "|".join(_REGIONS)
_CITY = "|".join(sorted((re.escape(c) for c in CITIES), key=len, reverse=True))
ZONE_TOKEN = (rf"(?:(?:UTC|GMT)\s*[+-]\s*\d{{1,2}}(?::?\d{{2}})?|\b(?:{_REGION_NAMES})/[A-Za-z_]+(?:/[A-Za-z_]+)?\b|"
              rf"\b(?:{_CITY})\s+time\b|\b(?:{_NAME})\b)")
# "all times Pacific", "(times EST)", "Times: PST", "times are SGT / UTC+8", "All times are local (UTC+2)".
STATED_ZONE = re.compile(
    rf"\b(?:times?|hours|clock)\b(?:\s+(?:are|in|is|shown|given|local))*\s*[:(]?\s*\(?"
    rf"(?P<zone>{ZONE_TOKEN}(?:\s*/\s*{ZONE_TOKEN})?)",
    re.IGNORECASE)
# "11:47 PM PST", "11:48 UTC": a zone written after a time.
ZONE_AFTER_TIME = re.compile(rf"\d{{1,2}}:\d{{2}}(?::\d{{2}})?\s*(?:[ap]\.?m\.?)?\s*(?P<zone>{ZONE_TOKEN})",
                             re.IGNORECASE)
# "Timeline (PT)", "(UK time)": a zone in parentheses, on its own.
ZONE_IN_PARENTHESES = re.compile(rf"\(\s*(?:in\s+)?(?P<zone>{ZONE_TOKEN})(?:\s+time)?\s*\)", re.IGNORECASE)
OFFSET = re.compile(r"(?:UTC|GMT)\s*(?P<sign>[+-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?", re.IGNORECASE)


@dataclass(frozen=True)
class Zone:
    """The zone the notes' times are in, as stated (None: not stated, read as UTC)."""

    stated: str | None
    tz: tzinfo

    @property
    def is_utc(self) -> bool:
        return self.tz is UTC

    def offset_on(self, day: date) -> str:
        delta = datetime(day.year, day.month, day.day, 12, tzinfo=self.tz).utcoffset() or timedelta()
        minutes = int(delta.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def to_utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.tz).astimezone(UTC)


def zone_named(text: str) -> tzinfo | None:
    """The tzinfo for one zone token (`PST`, `UTC+2`, `Pacific`), or None."""
    token = " ".join(text.lower().split())
    offset = OFFSET.fullmatch(token)
    if offset:
        sign = -1 if offset["sign"] == "-" else 1
        delta = timedelta(hours=int(offset["h"]), minutes=int(offset["m"] or 0))
        return UTC if not delta else timezone(sign * delta)
    if token in UTC_NAMES:
        return UTC
    if token in IANA:
        return ZoneInfo(IANA[token])
    city = CITIES.get(token.removesuffix(" time"))
    if token.endswith(" time") and city:
        return ZoneInfo(city)
    name = ZONES.get(token)
    return ZoneInfo(name) if name else None


def stated_zone(notes: str) -> Zone:
    """The zone the notes say their times are in; else one written after the first times; else UTC."""
    for pattern in (STATED_ZONE, ZONE_IN_PARENTHESES, ZONE_AFTER_TIME):
        for match in pattern.finditer(notes):
            phrase = match["zone"].strip()
            first = re.split(r"\s*/\s*", phrase)[0]
            tz = zone_named(phrase) or zone_named(first)  # "America/New_York" whole; "SGT / UTC+8" by its first
            if tz is not None:
                stated = _stated_phrase(notes, match, phrase) if pattern is STATED_ZONE else phrase
                return Zone(stated=stated, tz=tz)
    return Zone(stated=None, tz=UTC)


def _stated_phrase(notes: str, match: re.Match[str], zone: str) -> str:
    """How the notes put it: "all times Pacific" keeps its words, "(times EST)" reads "EST"."""
    before = notes[max(0, match.start() - 4):match.start()].lower()
    if "all" in before and zone.isalpha() and zone.lower() in ZONES and len(zone) > 4:
        return f"all times {zone}"
    return zone


@dataclass(frozen=True)
class Clock:
    """A time of day found in a line: where it is, and whether it said am/pm."""

    start: int
    end: int
    hour: int
    minute: int
    second: int
    meridiem: str | None  # "am" / "pm", or None for 24-hour (or bare) times
    padded: bool = False  # "06:30": a leading zero is only written on a 24-hour clock

    def hour_near(self, near: int | None) -> int:
        """A bare "8:40" in notes written in 12-hour time is the 8:40 nearest the time around it."""
        if self.meridiem is not None or near is None or self.hour > 12 or self.padded:
            return self.hour
        choices = [self.hour % 12, self.hour % 12 + 12]
        return min(choices, key=lambda h: min(abs(h - near), 24 - abs(h - near)))


def clocks(text: str) -> list[Clock]:
    found = []
    for m in TIME.finditer(text):
        if m["h12"] is not None:
            hour, minute, second, ap = int(m["h12"]), 0, 0, m["ap12"]
        elif m["hm"] is not None:  # "1402Z", "0930 UTC": military time, always with its zone
            hour, minute, second, ap = int(m["hm"]), int(m["mm"]), 0, None
        else:
            hour, minute, second, ap = int(m["h"]), int(m["m"]), int(m["s"] or 0), m["ap"]
        meridiem = None
        if ap:
            meridiem = "pm" if ap.lower().startswith("p") else "am"
            if hour > 12 or hour == 0:
                meridiem = None  # "14:02 pm": the 24-hour reading wins
            else:
                hour = hour % 12 + (12 if meridiem == "pm" else 0)
        written = m["h"] or m["hm"] or ""
        found.append(Clock(m.start(), m.end(), hour, minute, second, meridiem,
                           padded=meridiem is None and len(written) == 2 and written.startswith("0")))
    return found


@dataclass(frozen=True)
class FoundDate:
    start: int
    end: int
    day: date
    has_year: bool


def dates(text: str, year: int, day_first: bool = True) -> list[FoundDate]:
    """Every date written in the text; a date without a year gets `year`."""
    found = []
    for m in DATE.finditer(text):
        token = m.group(0)
        has_year = bool(m["iso"] or m["y1"] or m["y2"] or m["y3"])
        try:
            parsed = dateparser.parse(token, default=datetime(year, 1, 1), dayfirst=day_first and not m["iso"])
        except (ValueError, OverflowError):
            continue
        if m["slash"] and not _plausible_slash(m["slash"]):
            continue
        found.append(FoundDate(m.start(), m.end(), parsed.date(), has_year))
    return found


def _plausible_slash(token: str) -> bool:
    """"14/03" is a date; "50/s" or "3/4 of the pods" are not."""
    parts = token.split("/")
    return len(parts) >= 2 and all(p.isdigit() for p in parts) and (len(parts) == 3 or int(parts[1]) <= 12)


def day_first(zone: Zone) -> bool:
    """Slash dates read day first, except in notes written in a North American zone."""
    name = getattr(zone.tz, "key", "")
    return not name.startswith("America/")


SLASH = re.compile(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/\d{2,4})?(?![\d/])")
MONTH_FIRST_SAID = re.compile(r"\b(?:mm/dd(?:/yy(?:yy)?)?|m/d/y+|en[-_]us|us dates?|american dates?|month first)\b",
                              re.IGNORECASE)
DAY_FIRST_SAID = re.compile(r"\b(?:dd/mm(?:/yy(?:yy)?)?|d/m/y+|en[-_](?:gb|au|in|ie|nz)|uk dates?|european dates?|"
                            r"day first)\b", re.IGNORECASE)


@dataclass(frozen=True)
class SlashOrder:
    """How "4/12" is read: day first or month first, and what settled it (None: nothing did, it is assumed)."""

    day_first: bool
    settled_by: str | None
    ambiguous: str | None  # the first slash date that reads both ways, as written


def slash_order(notes: str, zone: Zone) -> SlashOrder:
    """Day/month order of the notes' slash dates: as the notes say it ("dd/mm", "en-US"), else as another of their
    slash dates proves it ("14/03" can only be day first), else by the stated zone's region; else day first,
    marked as assumed when a date reads both ways."""
    written = [(int(m["a"]), int(m["b"]), m.group(0)) for m in SLASH.finditer(notes)
               if 1 <= int(m["a"]) <= 31 and 1 <= int(m["b"]) <= 31]
    both_ways = next((text for a, b, text in written if a <= 12 and b <= 12 and a != b), None)
    if MONTH_FIRST_SAID.search(notes):
        return SlashOrder(False, "the notes' stated date format", both_ways)
    if DAY_FIRST_SAID.search(notes):
        return SlashOrder(True, "the notes' stated date format", both_ways)
    if any(a > 12 for a, _, _ in written):
        return SlashOrder(True, "another date in the notes that can only be day first", both_ways)
    if any(b > 12 for _, b, _ in written):
        return SlashOrder(False, "another date in the notes that can only be month first", both_ways)
    if zone.stated is not None:
        return SlashOrder(day_first(zone), f"the stated zone ({zone.stated})", both_ways)
    return SlashOrder(True, None, both_ways)
