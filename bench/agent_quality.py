"""How well the deterministic agents read everyday input: the corpus in tests/agent_corpus, train and held-out
scored separately (the held-out split is never used to tune the agents).

    python bench/agent_quality.py [--part notes] [--split train|heldout|both] [--failures]

Notes: each set is pasted after "Create postmortem from these incident notes: ", the postmortem-writer's
Markdown is cut into its sections, and every expected value is compared in its own place (tests/agent_corpus/
notes_score.py). Printed per field: checks passed / checks made.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.postmortem.notes import from_notes, notes_of
from agents.postmortem.render import markdown
from tests.agent_corpus import corpus
from tests.agent_corpus.notes_score import Score, score

PROMPT = "Create postmortem from these incident notes: "
TODAY = date(2026, 1, 15)  # a fixed "today", so assumed dates and years do not move between runs


def notes_quality(split: corpus.Split, failures: bool = False) -> Score:
    """Every notes set of a split through the postmortem-writer, scored field by field."""
    total = Score()
    for case in corpus.notes(split):
        notes = notes_of(PROMPT + case.notes) or ""
        result = score(case, markdown(from_notes(notes, TODAY)), TODAY)
        if failures:
            for failure in result.failures:
                print(f"  {case.id} {failure}")
        total.add(result)
    return total


def print_notes(splits: list[corpus.Split], failures: bool) -> None:
    # Failures are listed for the training split only: the held-out split is reported, never inspected.
    scores = {split: notes_quality(split, failures and split == "train") for split in splits}
    fields = sorted({name for s in scores.values() for name in s.total})
    print(f"\npostmortem from notes ({', '.join(f'{s}: {len(corpus.notes(s))} sets' for s in splits)})")
    print(f"{'field':<22}" + "".join(f"{split:>14}" for split in splits))
    for name in fields:
        cells = []
        for split in splits:
            s = scores[split]
            cells.append(f"{s.passed[name]}/{s.total[name]}" if s.total[name] else "-")
        print(f"{name:<22}" + "".join(f"{c:>14}" for c in cells))
    overall = [_ratio(sum(s.passed.values()), sum(s.total.values())) for s in scores.values()]
    print(f"{'all checks':<22}" + "".join(f"{c:>14}" for c in overall))


def _ratio(passed: int, total: int) -> str:
    return f"{passed}/{total} ({passed / max(1, total):.0%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["notes", "all"], default="all")
    parser.add_argument("--split", choices=["train", "heldout", "both"], default="both")
    parser.add_argument("--failures", action="store_true", help="print each failed check of the training split")
    args = parser.parse_args()
    splits: list[corpus.Split] = ["train", "heldout"] if args.split == "both" else [args.split]
    if args.part in ("notes", "all"):
        print_notes(splits, args.failures)


if __name__ == "__main__":
    main()
