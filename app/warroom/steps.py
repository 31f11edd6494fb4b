"""What opening a war room needs from the chat service, and how a step's failure is described to it.

The set-up flow (app/warroom/flows.py) keeps the step table and the lease; an adapter (app/slack/warroom.py)
makes the calls and says, for each failure, whether waiting and trying again can help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from app.incidents.models import Incident
from app.warroom.models import Step

if TYPE_CHECKING:
    from app.warroom.flows import StepReport


@dataclass
class Outcome:
    """What a step changed: incident columns to store and the timeline line to add."""

    text: str
    updates: dict[str, Any] = field(default_factory=dict)


class StepFailed(Exception):
    """A step's call did not succeed.

    `transient`: the service was rate limited, erroring or unreachable, so the same call may succeed later;
    otherwise it refused (a missing permission, a missing channel) and will refuse again.
    """

    def __init__(self, error: str, *, transient: bool, retry_after: float | None = None,
                 hint: str | None = None) -> None:
        super().__init__(error)
        self.error, self.transient, self.retry_after, self.hint = error, transient, retry_after, hint

    @property
    def reason(self) -> str:
        return f"{self.error}: {self.hint}" if self.hint else self.error


class Rooms(Protocol):
    """The chat service's side of each set-up step."""

    async def run(self, step: Step, incident: Incident, intent: str) -> Outcome:
        """Do the step; `intent` goes with what it posts so that `find` can recognise it."""
        ...

    async def find(self, step: Step, incident: Incident, intent: str) -> Outcome | None:
        """What an earlier attempt that may have happened left behind (None: it did not happen)."""
        ...

    async def tell(self, incident: Incident, reports: list[StepReport]) -> None:
        """Tell the incident commander how a set-up finished that nobody is waiting on."""
        ...
