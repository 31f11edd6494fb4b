"""Reading runbooks: the shipped examples, then the team's folder (`runbooks_dir`), which may replace them.

A file that is not valid is reported by file, key and problem; the other runbooks still load, so one bad file
does not take every runbook away in the middle of an incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from app.runbooks.schema import Runbook


def _shipped() -> Path:
    """The examples: the installed `runbooks` package, else the folder beside `app/` (a source checkout)."""
    try:
        import runbooks
    except ImportError:
        return Path(__file__).resolve().parents[2] / "runbooks"
    return Path(runbooks.__file__).resolve().parent


SHIPPED = _shipped()


@dataclass
class Catalog:
    runbooks: dict[str, Runbook] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # "file: key: problem", one per line

    def get(self, name: str) -> Runbook | None:
        return self.runbooks.get(name.strip().lower())


class RunbookFileError(Exception):
    """A runbook file that cannot be used; the message names the file, the key and the problem."""


def load_file(path: Path) -> Runbook:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunbookFileError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RunbookFileError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise RunbookFileError(f"{path}: top level: expected a mapping with name, description and steps")
    try:
        return Runbook.model_validate(raw)
    except ValidationError as exc:
        raise RunbookFileError("\n".join(f"{path}: {p}" for p in problems(exc))) from exc


def problems(exc: ValidationError) -> list[str]:
    """Each problem as `key path: what`, e.g. `steps[1].timeout: '5 minutes' is not a duration`."""
    out = []
    for error in exc.errors():
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
        out.append(f"{where or 'top level'}: {error['msg'].removeprefix('Value error, ')}")
    return out


def load(folders: list[Path]) -> Catalog:
    """Every `*.yml`/`*.yaml` in the folders, in order; a later folder's runbook replaces one of the same name."""
    catalog = Catalog()
    for folder in folders:
        if not folder.is_dir():
            catalog.problems.append(f"{folder}: runbooks_dir is not a folder")
            continue
        for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
            try:
                runbook = load_file(path)
            except RunbookFileError as exc:
                catalog.problems.extend(str(exc).splitlines())
                continue
            catalog.runbooks[runbook.name] = runbook
            catalog.sources[runbook.name] = path
    return catalog


def folders(runbooks_dir: Path | None) -> list[Path]:
    return [SHIPPED, *([runbooks_dir] if runbooks_dir is not None else [])]
