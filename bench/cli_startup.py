"""CLI start-up: median wall time of `incidentbot list` and `incidentbot --help`, against `python -c "import click"`
measured in the same run (the floor any click CLI pays), so figures from a loaded machine still compare.

`list` runs on a migrated, empty SQLite store with Slack off, as an operator's first command does. The runs
interleave the three commands so that a burst of load elsewhere slows each of them alike.

    python bench/cli_startup.py [--runs 15] [--root DIR]

`--root` runs the `app` package of another checkout (e.g. a `git worktree` of an older commit) for a before/after.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run; CPU is what load on a shared machine disturbs least."""
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stderr}")
    return elapsed, _children_cpu() - cpu


def migrated_store(directory: str, root: Path) -> str:
    url = f"sqlite:///{directory}/bench.db"
    code = "import sys; from app.db.migrate import upgrade; upgrade(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, url], cwd=root, check=True, timeout=120)
    return url


def commands() -> dict[str, list[str]]:
    # `-m app.cli` with the checkout as working directory: its `app` is the one imported.
    return {"import click": [sys.executable, "-c", "import click"],
            "incidentbot --help": [sys.executable, "-m", "app.cli", "--help"],
            "incidentbot list": [sys.executable, "-m", "app.cli", "list"]}


def measure(runs: int, root: Path) -> dict[str, tuple[float, float]]:
    """Median wall and median CPU seconds of each command."""
    with tempfile.TemporaryDirectory() as directory:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENTBOT_", "PAGERDUTY_"))}
        env["DATABASE_URL"] = migrated_store(directory, root)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands()}
        for command in commands().values():  # one warm-up each: bytecode caches, page cache
            timed(command, env, root)
        for _ in range(runs):
            for name, command in commands().items():
                times[name].append(timed(command, env, root))
    return {name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
            for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app is run")
    args = parser.parse_args()
    medians = measure(args.runs, args.root.resolve())
    wall_floor, cpu_floor = medians["import click"]
    print(f"CLI start-up, median of {args.runs} runs ({args.root.resolve()})")
    for name, (wall, cpu) in medians.items():
        print(f"  {name:<20} wall {wall * 1000:6.0f} ms {wall / wall_floor:5.1f}x   "
              f"cpu {cpu * 1000:6.0f} ms {cpu / cpu_floor:5.1f}x import click")


if __name__ == "__main__":
    main()
