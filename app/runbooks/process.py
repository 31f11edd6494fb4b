"""Running one step's command: an argument list, no shell, an allow-listed program, a timeout, capped output.

The program is looked up on PATH by its bare name (no paths: `/tmp/kubectl` is not `kubectl`). The child runs
in its own process group, so a timeout kills whatever it started too (`kubectl` plugins, `sh -c` inside a
wrapper), not just the parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass

READ_LIMIT = 256 * 1024  # bytes kept from a step's output; the rest is read and dropped
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


class ProgramRefused(Exception):
    """The command's program is not allowed or not installed; nothing was run."""


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None  # None: killed on timeout, or never started
    output: str  # stdout and stderr interleaved, decoded, not yet redacted
    seconds: float
    timed_out: bool = False
    truncated: bool = False


def program_path(argv: list[str], allowed: list[str], env_path: str | None = None) -> str:
    program = argv[0]
    if "/" in program or program not in allowed:
        raise ProgramRefused(f"{program!r} is not an allowed program (runbook_programs: {', '.join(allowed)})")
    found = shutil.which(program, path=env_path if env_path is not None else os.environ.get("PATH"))
    if found is None:
        raise ProgramRefused(f"{program} is not installed here (not found on PATH)")
    return found


async def run(argv: list[str], allowed: list[str], timeout: float) -> Outcome:
    path = program_path(argv, allowed)
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        path, *argv[1:], stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    assert process.stdout is not None
    kept = bytearray()
    reading = asyncio.ensure_future(_read(process.stdout, kept))
    try:
        await asyncio.wait_for(asyncio.shield(reading), timeout)
        code = await process.wait()
        timed_out = False
    except TimeoutError:
        await _kill(process)
        reading.cancel()
        code, timed_out = None, True
    except asyncio.CancelledError:
        await _kill(process)  # the service is stopping: leave nothing running behind
        reading.cancel()
        raise
    return Outcome(exit_code=code, output=kept[:READ_LIMIT].decode("utf-8", "replace"),
                   seconds=time.monotonic() - started, timed_out=timed_out, truncated=len(kept) > READ_LIMIT)


async def _read(stream: asyncio.StreamReader, kept: bytearray) -> None:
    while chunk := await stream.read(65536):
        if len(kept) <= READ_LIMIT:
            kept.extend(chunk)


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the whole group, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(process.wait(), wait)
            break
        except TimeoutError:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived their parent
