"""A real Prometheus server for tests: backfill a TSDB from OpenMetrics with promtool, then serve it on loopback.

The RCA engine's queries (rates, ratios, `by` clauses, `time()`) are only worth testing against the engine that
evaluates them in production, so the tests run Debian's `prometheus` package rather than a hand-written fake.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import httpx
import pytest

from tests.sockets import free_socket

SKIP_MESSAGE = "install Debian's prometheus package (apt-get install prometheus) to run the Prometheus tests"
# No scrape targets: the server only answers queries over the backfilled blocks.
MINIMAL_CONFIG = "global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n"
START_TIMEOUT = 30.0
PORT_ATTEMPTS = 3
BACKFILL_TIMEOUT = 300.0  # one scenario takes a few seconds; only a stuck promtool takes this long


def _binary(name: str) -> Path | None:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
    return Path(found) if found else None


def find_prometheus() -> tuple[Path, Path] | None:
    """The `prometheus` and `promtool` binaries, from PATH or /usr/bin; None unless both are there."""
    prometheus, promtool = _binary("prometheus"), _binary("promtool")
    return (prometheus, promtool) if prometheus and promtool else None


def require_prometheus() -> tuple[Path, Path]:
    """The binaries, or skip the test; on CI (env `CI` set) a missing Prometheus fails instead, as CI must run them."""
    found = find_prometheus()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(SKIP_MESSAGE)
        pytest.skip(SKIP_MESSAGE)
    return found


@functools.cache
def _block_duration_flags(promtool: Path) -> tuple[str, ...]:
    """Ask for one-day blocks where promtool supports it (2.44+); older ones cut two-hour blocks, which work too."""
    usage = subprocess.run([str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--help"],
                           capture_output=True, text=True, check=False, timeout=60)
    return ("--max-block-duration=24h",) if "--max-block-duration" in usage.stdout + usage.stderr else ()


def backfill(openmetrics: str, data_dir: Path, promtool: Path | None = None) -> None:
    """Write `openmetrics` into TSDB blocks under `data_dir` with `promtool tsdb create-blocks-from openmetrics`."""
    if promtool is None:
        promtool = require_prometheus()[1]
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".om", delete=False) as source:
        source.write(openmetrics)
    try:
        command = [str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                   *_block_duration_flags(promtool), source.name, str(data_dir)]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=BACKFILL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"promtool backfill into {data_dir} took over {BACKFILL_TIMEOUT:.0f} s") from None
    finally:
        Path(source.name).unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(f"promtool backfill failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


class RunningPrometheus:
    """`prometheus` serving the TSDB at `data_dir` on a free loopback port, from `__enter__` to `__exit__`.

    Compaction is switched off (min = max block duration) so the server neither rewrites the backfilled blocks
    nor competes with the tests for CPU; retention is a century so blocks from past scenarios are never dropped.
    """

    def __init__(self, data_dir: Path, prometheus: Path | None = None, config: str | None = None) -> None:
        self.data_dir = data_dir
        self.config = config or MINIMAL_CONFIG
        self.binary = prometheus or require_prometheus()[0]
        self.log_path = data_dir.parent / f"{data_dir.name}-prometheus.log"
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def _command(self, port: int) -> list[str]:
        config = self.data_dir.parent / f"{self.data_dir.name}-prometheus.yml"
        config.write_text(self.config)
        return [str(self.binary), f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h",
                "--query.lookback-delta=5m", "--log.level=warn"]

    def __enter__(self) -> RunningPrometheus:
        for _ in range(PORT_ATTEMPTS):
            if self._start():
                return self
        self._fail()

    def _start(self) -> bool:
        """Start on a free port and wait until ready; False when another process took the port first."""
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()  # free again for prometheus to bind; another process could take it in between
        self.url = f"http://127.0.0.1:{port}"
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(self._command(port), stdout=log, stderr=subprocess.STDOUT)
        try:
            if self._wait_ready():
                return True
        except BaseException:
            self._stop()
            raise
        self._stop()
        if "address already in use" in self._log():
            return False
        self._fail()

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        assert self._process is not None
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return False

    def _log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _fail(self) -> NoReturn:
        """Show the server's own account of why it did not start, then fail."""
        print(f"prometheus log ({self.log_path}):\n{self._log()}")
        code = self._process.poll() if self._process else None
        raise RuntimeError(f"prometheus did not become ready at {self.url} (exit code {code})")

    def _stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop()
