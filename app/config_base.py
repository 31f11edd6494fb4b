"""The base of every team-config model (INCIDENTBOT_CONFIG): a key it does not know is an error naming the
closest known one, so a typo (`sevrities`) is caught at start-up instead of silently meaning the default.
Models for new config sections, wherever they live, derive from it."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class ConfigModel(BaseModel):
    """Refuses keys it does not know, naming the closest known one."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = [*cls.model_fields, *(spec.alias for spec in cls.model_fields.values() if spec.alias)]
        unknown = [key for key in data if key not in known]
        if unknown:
            raise ValueError("; ".join(_unknown_key(str(key), known) for key in unknown))
        return data


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(set(known)))}"
    return f"unknown key {key!r} ({hint})"
