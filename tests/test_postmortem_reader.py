"""The notes reader's smallest parts: how a time, a date and a time zone written by people are read."""

from __future__ import annotations

from datetime import date

import pytest

from agents.postmortem.reader.clock import clocks, dates, slash_order, stated_zone


@pytest.mark.parametrize(("text", "read"), [
    ("14:02 deploy", [(14, 2)]), ("2:15pm errors", [(14, 15)]), ("9:12 AM picked up", [(9, 12)]),
    ("11:47:12 PM PST", [(23, 47)]), ("12:20am renewed", [(0, 20)]), ("09h15 crash", [(9, 15)]),
    ("at 1402Z the primary", [(14, 2)]), ("07:12-07:19 lost", [(7, 12), (7, 19)]),
    ("3pm login errors", [(15, 0)]), ("3:05 p.m. pager fired", [(15, 5)]), ("12 am cutover", [(0, 0)]),
    # Not times: a duration, a version, an offset, a ticket number.
    ("the restore took 3h24m", []), ("v2.14.0 released", []), ("UTC+02:00", []), ("order #1402 UTC", []),
])
def test_times_as_people_write_them(text: str, read: list[tuple[int, int]]) -> None:
    assert [(c.hour, c.minute) for c in clocks(text)] == read


@pytest.mark.parametrize(("text", "day", "has_year"), [
    ("2025-03-14", date(2025, 3, 14), True), ("Apr 8, 2025 02:00", date(2025, 4, 8), True),
    ("Thu Jan 9, 2025", date(2025, 1, 9), True), ("19 April 2025", date(2025, 4, 19), True),
    ("14/03/2025, 23:41", date(2025, 3, 14), True), ("17 march", date(2026, 3, 17), False),
    ("Mar 14", date(2026, 3, 14), False), ("2025-08-19T22:58:03Z", date(2025, 8, 19), True),
])
def test_dates_in_their_common_forms(text: str, day: date, has_year: bool) -> None:
    found = dates(text, 2026)
    assert [(d.day, d.has_year) for d in found[:1]] == [(day, has_year)]


@pytest.mark.parametrize(("notes", "stated", "offset"), [
    ("Login 502s (all times Pacific)\nApr 8, 2025", "all times Pacific", "UTC-07:00"),
    # A zone named by its abbreviation is read as the region's clock: "EST" in April is daylight time.
    ("times EST", "EST", "UTC-04:00"), ("All times are local (UTC+2)", "UTC+2", "UTC+02:00"),
    ("(times are SGT / UTC+8)", "SGT / UTC+8", "UTC+08:00"), ("Timeline (PT)", "PT", "UTC-07:00"),
    ("11:47 PM PST   Triggered", "PST", "UTC-07:00"), ("no zone here 14:02", None, "UTC+00:00"),
    ("times IST", "IST", "UTC+05:30"), ("all times GMT+1", "GMT+1", "UTC+01:00"),
    ("times are AEST", "AEST", "UTC+10:00"),
    ("Times in America/New_York", "America/New_York", "UTC-04:00"), ("hours are Paris time", "Paris time", "UTC+02:00"),
    ("all times US Pacific", "US Pacific", "UTC-07:00"),
    # A city only counts as a zone when it is said to be one: "Casey" is also a name.
    ("10:15 Casey acked", None, "UTC+00:00"),
])
def test_a_stated_zone_and_its_offset_on_the_day(notes: str, stated: str | None, offset: str) -> None:
    zone = stated_zone(notes)
    assert (zone.stated, zone.offset_on(date(2025, 4, 8))) == (stated, offset)


@pytest.mark.parametrize(("notes", "day_first", "settled_by"), [
    ("errors 4/12/2025 (dates are mm/dd)", False, "the notes' stated date format"),
    ("errors 4/12/2025, retro 15/12", True, "another date in the notes that can only be day first"),
    ("errors 4/12/2025, retro 12/15", False, "another date in the notes that can only be month first"),
    ("errors 4/12/2025 (times Pacific)", False, "the stated zone (Pacific)"),
    ("errors 4/12/2025 (times AEST)", True, "the stated zone (AEST)"),
    ("errors 4/12/2025", True, None),  # nothing settles it: read day first, and said to be a guess
])
def test_day_and_month_order_comes_from_the_notes(notes: str, day_first: bool, settled_by: str | None) -> None:
    order = slash_order(notes, stated_zone(notes))
    assert (order.day_first, order.settled_by, order.ambiguous) == (day_first, settled_by, "4/12/2025")
