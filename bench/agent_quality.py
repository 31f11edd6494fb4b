"""Agent quality over the agent corpus (tests/agent_corpus): train and held-out scores, reported separately.

One function per part, each returning a `Score` per split:
- `severity`: the incident commander's assessment of each title. Right when the severity is the expected one
  (or an also-acceptable one) and the impact class is the expected one (or an also-acceptable one).
- `questions`: war-room questions in their incident's record. Right when the question reaches the expected
  agent (investigate, postmortem, runbook, escalation: routed to that agent) or, for the commander's own kinds,
  when the answer contains every `must_mention` phrase and no `must_not_mention` string.
- `notes_quality`: each notes set pasted after "Create postmortem from these incident notes: "; the
  postmortem-writer's Markdown is cut into its sections and every expected value compared in its own place
  (tests/agent_corpus/notes_score.py). Printed per field: checks passed / checks made, train and held-out.

The held-out split is only ever scored here, never used to tune (see tests/agent_corpus/README.md).

    python bench/agent_quality.py [--verbose] [--train-only]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents import incident_commander, router  # noqa: E402
from agents.postmortem.notes import from_notes, notes_of  # noqa: E402
from agents.postmortem.render import markdown  # noqa: E402
from app.config import TeamConfig  # noqa: E402
from tests.agent_corpus import corpus  # noqa: E402
from tests.agent_corpus.notes_score import Score as NotesScore  # noqa: E402
from tests.agent_corpus.notes_score import score as score_notes  # noqa: E402
from tests.commander_records import request_for  # noqa: E402

OTHER_AGENTS = {"investigate": "rca-agent", "postmortem": "postmortem-writer", "runbook": "runbook-executor",
                "escalation": "escalation-manager"}


@dataclass
class Score:
    right: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, ok: bool, what: str) -> None:
        self.total += 1
        self.right += ok
        if not ok:
            self.misses.append(what)

    def __str__(self) -> str:
        return f"{self.right}/{self.total}" + (f" ({100 * self.right / self.total:.0f}%)" if self.total else "")


def severity(split: corpus.Split, config: TeamConfig | None = None) -> Score:
    config = config or TeamConfig()
    score = Score()
    for case in corpus.titles(split):
        got = incident_commander.assess_severity(case.title, None, config)
        ok = (got.severity in (case.severity, *case.also_acceptable)
              and got.impact_class in (case.impact_class, *case.also_acceptable_class))
        score.add(ok, f"{case.id}: {case.title!r} → {got.severity} {got.impact_class} (expected {case.severity} "
                      f"{case.impact_class}); {got.reasons[0]}")
    return score


def _question_ok(case: corpus.QuestionCase, record: corpus.IncidentRecord, config: TeamConfig) -> tuple[bool, str]:
    agent = router.agent_for(case.question)
    if case.kind in OTHER_AGENTS:
        return agent == OTHER_AGENTS[case.kind], f"routed to {agent}"
    if agent != "incident-commander":
        return False, f"routed to {agent}"
    answer = incident_commander.answer(request_for(record, case.question, config), intent=router.route(case.question))
    text = answer.text_markdown
    missing = [m for m in case.must_mention if not corpus.mentions(text, m)]
    wrong = [s for s in case.must_not_mention if s.casefold() in text.casefold()]
    detail = f"missing {missing}" if missing else ""
    detail += f" has {wrong}" if wrong else ""
    return not missing and not wrong, f"{detail}\n{text}"


def questions(split: corpus.Split, config: TeamConfig | None = None) -> Score:
    config = config or TeamConfig()
    records = corpus.records(split)
    score = Score()
    for case in corpus.questions(split):
        ok, detail = _question_ok(case, records[case.record], config)
        score.add(ok, f"{case.id} ({case.kind}) {case.question!r}: {detail}")
    return score


PARTS = {"severity": severity, "questions": questions}

NOTES_PROMPT = "Create postmortem from these incident notes: "
NOTES_TODAY = date(2026, 1, 15)  # a fixed "today", so assumed dates and years do not move between runs


def notes_quality(split: corpus.Split, failures: bool = False) -> NotesScore:
    """Every notes set of a split through the postmortem-writer, scored field by field."""
    total = NotesScore()
    for case in corpus.notes(split):
        notes = notes_of(NOTES_PROMPT + case.notes) or ""
        result = score_notes(case, markdown(from_notes(notes, NOTES_TODAY)), NOTES_TODAY)
        if failures:
            for failure in result.failures:
                print(f"  miss: {case.id} {failure}")
        total.add(result)
    return total


def print_notes(splits: list[corpus.Split], failures: bool) -> None:
    # Failures are listed for the training split only: the held-out split is reported, never inspected.
    scores = {split: notes_quality(split, failures and split == "train") for split in splits}
    fields = sorted({name for s in scores.values() for name in s.total})
    print(f"\npostmortem from notes ({', '.join(f'{s}: {len(corpus.notes(s))} sets' for s in splits)})")
    print(f"{'field':<26}" + "".join(f"{split:>16}" for split in splits))
    for name in fields:
        cells = [f"{scores[s].passed[name]}/{scores[s].total[name]}" if scores[s].total[name] else "-" for s in splits]
        print(f"{name:<26}" + "".join(f"{c:>16}" for c in cells))
    overall = [_ratio(sum(s.passed.values()), sum(s.total.values())) for s in scores.values()]
    print(f"{'all checks':<26}" + "".join(f"{c:>16}" for c in overall))


def _ratio(passed: int, total: int) -> str:
    return f"{passed}/{total} ({passed / max(1, total):.0%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every miss of the train split")
    parser.add_argument("--train-only", action="store_true", help="score the train split only (while tuning)")
    args = parser.parse_args()
    for name, part in PARTS.items():
        train = part("train")
        heldout = "not run" if args.train_only else part("heldout")
        print(f"{name:<10} train {train!s:<14} held-out {heldout}")
        if args.verbose:
            for miss in train.misses:
                print(f"  miss: {miss}")
    print_notes(["train"] if args.train_only else ["train", "heldout"], args.verbose)


if __name__ == "__main__":
    main()
