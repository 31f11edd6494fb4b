"""What a process building a scenario TSDB runs: it imports only the scenario loader and promtool's wrapper, so a
spawned process starts in a fraction of a second."""

from __future__ import annotations

from pathlib import Path

from tests.prometheus import backfill
from tests.scenarios.loader import load, openmetrics


def backfill_scenario(name: str, target: str) -> str:
    """Expand one scenario and write its blocks into `target`."""
    backfill(openmetrics(load(name)), Path(target))
    return name
