"""The agent corpus parses against its documented format, and its expected values hold together.

These checks read the corpus as data (including the held-out split, which is checked for format only
and never used for tuning): every quoted source line is really in the notes, times are in order and
convert from the stated zone, durations add up, and questions point at records that exist.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.agent_corpus import corpus
from tests.agent_corpus.corpus import SPLITS, Missing, NotesCase, QuestionKind, minute, offset

HANDED_TO_OTHER_AGENTS = {
    QuestionKind.investigate,
    QuestionKind.postmortem,
    QuestionKind.runbook,
    QuestionKind.escalation,
}
MINIMUM = {
    ("notes", "train"): 29,
    ("notes", "heldout"): 15,
    ("titles", "train"): 68,
    ("titles", "heldout"): 32,
    ("questions", "train"): 51,
    ("questions", "heldout"): 21,
}


@pytest.mark.parametrize("split", SPLITS)
def test_each_part_has_its_minimum_size(split: str) -> None:
    sizes = {
        "notes": len(corpus.notes(split)),
        "titles": len(corpus.titles(split)),
        "questions": len(corpus.questions(split)),
    }
    for part, size in sizes.items():
        assert size >= MINIMUM[(part, split)], f"{part}/{split} has {size} items"


def test_ids_are_unique_across_splits() -> None:
    ids = [case.id for split in SPLITS for case in corpus.notes(split)]
    ids += [case.id for split in SPLITS for case in corpus.titles(split)]
    ids += [case.id for split in SPLITS for case in corpus.questions(split)]
    ids += [record for split in SPLITS for record in corpus.records(split)]
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_no_title_or_notes_set_appears_in_both_splits() -> None:
    train, heldout = (corpus.titles(split) for split in SPLITS)
    assert {t.title.casefold() for t in train}.isdisjoint(t.title.casefold() for t in heldout)
    notes_train, notes_heldout = (corpus.notes(split) for split in SPLITS)
    assert {n.notes for n in notes_train}.isdisjoint(n.notes for n in notes_heldout)


def _notes_cases() -> list[NotesCase]:
    return [case for split in SPLITS for case in corpus.notes(split)]


@pytest.mark.parametrize("case", _notes_cases(), ids=lambda case: case.id)
def test_notes_expectations_are_derivable_from_the_notes(case: NotesCase) -> None:
    expected = case.expected
    sources = [event.source for event in expected.timeline]
    sources += [event.source for event in expected.timeline_excludes]
    refs = [expected.start, expected.end, expected.acknowledged_at, expected.mitigated_at, expected.resolved_at]
    sources += [ref.source for ref in refs if ref is not None and ref.source is not None]
    phrases = [expected.root_cause, expected.trigger, *expected.impact.__dict__.values()]
    sources += [phrase.source for phrase in phrases if phrase is not None]
    sources += [f.source for f in (*expected.went_well, *expected.went_poorly, *expected.lucky)]
    sources += [item.source for item in expected.action_items]
    sources += expected.title.not_verbatim
    for source in sources:
        assert source in case.notes, f"not in the notes: {source!r}"
    assert expected.title.example not in case.notes.splitlines()
    owners = [item.owner for item in expected.action_items if item.owner is not None]
    assert owners == [owner.lower() for owner in owners], "owners are written in lowercase"


@pytest.mark.parametrize("case", _notes_cases(), ids=lambda case: case.id)
def test_notes_times_are_ordered_converted_and_add_up(case: NotesCase) -> None:
    expected = case.expected
    times = [minute(event.utc) for event in expected.timeline]
    assert times == sorted(times), "timeline out of order"
    shift = offset(expected.timezone.utc_offset)
    for event in [*expected.timeline, expected.start, expected.end]:
        if event.local is not None:
            assert minute(event.utc) == minute(event.local) - shift, f"{event.local} is not {event.utc}"
    refs = [expected.start, expected.end, expected.acknowledged_at, expected.mitigated_at, expected.resolved_at]
    for ref in refs:
        if ref is not None:
            for utc in [ref.utc, *ref.also_acceptable]:
                assert utc is None or minute(utc) in times, f"{utc} is not on the timeline"
    assert expected.start.utc is not None and expected.end.utc is not None
    elapsed = minute(expected.end.utc) - minute(expected.start.utc)
    assert expected.duration_minutes == elapsed.total_seconds() // 60
    assert elapsed.total_seconds() >= 0, "impact ends before it starts"
    resolved = expected.resolved_at.utc if expected.resolved_at else None
    for ref in (expected.acknowledged_at, expected.mitigated_at):
        if resolved and ref is not None and ref.utc is not None:
            assert minute(ref.utc) <= minute(resolved), f"{ref.utc} is after the resolution"
    excluded = {minute(event.utc) for event in expected.timeline_excludes}
    assert excluded.isdisjoint(times)


@pytest.mark.parametrize("case", _notes_cases(), ids=lambda case: case.id)
def test_what_the_notes_lack_is_listed_as_missing(case: NotesCase) -> None:
    expected = case.expected
    absent = {
        Missing.root_cause: expected.root_cause is None,
        Missing.trigger: expected.trigger is None,
        Missing.acknowledged_at: expected.acknowledged_at is None,
        Missing.mitigated_at: expected.mitigated_at is None,
        Missing.resolved_at: expected.resolved_at is None,
        Missing.date: expected.date.assumed,
        **{Missing(name): value is None for name, value in expected.impact.__dict__.items()},
    }
    must_be_listed = {
        Missing.root_cause,
        Missing.customers_affected,
        Missing.revenue,
        Missing.acknowledged_at,
        Missing.date,
    }
    for field, is_absent in absent.items():
        if field in expected.missing:
            assert is_absent, f"{field} is listed as missing but has an expected value"
        elif field in must_be_listed:
            assert not is_absent, f"{field} has no expected value and is not listed as missing"
    date = expected.date
    if date.assumed:
        assert date.value is None and expected.start.utc is not None
        assert expected.start.utc[:4] in ("1999", "2000"), "undated notes use the 2000-01-01 placeholder day"
    else:
        assert date.value is not None
        assert (len(date.value) == 5) == date.year_assumed


@pytest.mark.parametrize("split", SPLITS)
def test_questions_point_at_records_of_their_split(split: str) -> None:
    records = corpus.records(split)
    for question in corpus.questions(split):
        assert question.record in records, f"{question.id}: no record {question.record}"
        if question.kind not in HANDED_TO_OTHER_AGENTS:
            assert question.must_mention, f"{question.id}: an answer the commander gives needs facts to check"
    for record in records.values():
        times = [minute(entry.at) for entry in record.timeline]
        assert times == sorted(times), f"{record.id}: timeline out of order"
        assert all(time <= minute(record.as_of) for time in times), f"{record.id}: entry after as_of"
        users = {role.user for role in record.roles} | {i.owner for i in record.action_items if i.owner}
        users |= {e.author for e in record.timeline if e.author} | {line.user for line in record.transcript}
        users.add(record.declared_by)
        assert users <= set(record.people), f"{record.id}: unknown users {users - set(record.people)}"
