"""A scenario's whole observability stack on loopback: a real Prometheus over its backfilled metrics, and the
fakes of its log backend (Loki or Datadog), of Kubernetes and, when it has dashboards, of Grafana.

What it yields is the environment the service reads its tools from, so a test configures the service exactly
as an operator would: by URLs, keys and a kubeconfig.
"""

from __future__ import annotations

import fcntl
import hashlib
import multiprocessing
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.fakes.datadog import FakeDatadog
from tests.fakes.grafana import FakeGrafana
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.loki import FakeLoki
from tests.prometheus import RunningPrometheus, backfill, require_prometheus
from tests.scenarios.backfill import backfill_scenario
from tests.scenarios.loader import (
    SCENARIOS_DIR,
    Scenario,
    datadog_logs,
    grafana_datasources,
    heldout_names,
    kubernetes_objects,
    log_entries,
    openmetrics,
    pod_logs,
    spec_path,
    train_names,
)

DATADOG_API_KEY = "dd-api-key-scenario"
DATADOG_APP_KEY = "dd-app-key-scenario"
GRAFANA_TOKEN = "glsa_scenario_token"
KUBERNETES_TOKEN = "scenario-token"


# Where shared TSDBs are kept between runs, keyed by what they are built from.
CACHE_DIR = Path(os.environ.get("INCIDENTBOT_SCENARIO_CACHE", SCENARIOS_DIR.parent.parent / ".cache" / "scenario-tsdb"))


def train_scenarios() -> list[str]:
    """The generated scenarios an engine may be tuned on."""
    return train_names()


def heldout_scenarios() -> list[str]:
    """The sealed scenarios: for benchmarks and data checks only, never for a tuning loop (see heldout/README.md)."""
    return heldout_names()


def prepare_tsdb(s: Scenario, data_dir: Path) -> Path:
    """Backfill the scenario's metrics into a fresh TSDB at `data_dir` (skipping the test without Prometheus)."""
    _, promtool = require_prometheus()
    backfill(openmetrics(s), data_dir, promtool)
    return data_dir


def _source_digest() -> str:
    """The code that turns specs into series: a change to it invalidates every cached TSDB."""
    digest = hashlib.sha256()
    for path in sorted([*SCENARIOS_DIR.glob("*.py"), *(SCENARIOS_DIR / "generator").glob("*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def tsdb_key(names: Iterable[str]) -> str:
    digest = hashlib.sha256(_source_digest().encode())
    for name in sorted(names):
        digest.update(name.encode() + spec_path(name).read_bytes())
    return digest.hexdigest()[:24]


BUILD_TIMEOUT = 900.0  # seconds for all missing scenarios; a loaded 2-core machine needs ~2 minutes


@contextmanager
def _cache_lock() -> Iterator[None]:
    """One builder at a time across processes (pytest-xdist workers, parallel runs): the others wait for it,
    then find what it built instead of building the same blocks again."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _scenario_dir(name: str) -> Path:
    """One scenario's own blocks, so every TSDB that includes it (train, train + held-out) reuses them."""
    return CACHE_DIR / "scenario" / f"{name}-{tsdb_key([name])}"


def _build_scenarios(names: list[str], workers: int) -> None:
    """Backfill each scenario not yet cached into its own directory, in parallel processes.

    The processes are spawned, not forked: a fork of a pytest worker copies locks held by its other threads
    (execnet's reader, servers of earlier tests), and a child that needs one of them waits forever.
    """
    missing = [n for n in names if not (_scenario_dir(n) / "complete").is_file()]
    if not missing:
        return
    (CACHE_DIR / "scenario").mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="building-", dir=CACHE_DIR))
    try:
        parts = [building / name for name in missing]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:  # leaving it terminates the workers
            pending = pool.starmap_async(backfill_scenario, zip(missing, map(str, parts), strict=True))
            try:
                pending.get(timeout=BUILD_TIMEOUT)
            except multiprocessing.TimeoutError:
                raise RuntimeError(f"backfilling {', '.join(missing)} took over {BUILD_TIMEOUT:.0f} s") from None
        for name, part in zip(missing, parts, strict=True):
            (part / "complete").write_text(name + "\n")
            part.rename(_scenario_dir(name))
    finally:
        shutil.rmtree(building, ignore_errors=True)


def shared_tsdb(names: Iterable[str], workers: int = 2) -> Path:
    """One TSDB with the metrics of every named scenario (each on its own day, as one Prometheus would have kept
    them), built once and cached under CACHE_DIR by the hash of the specs and of the code that expands them.

    The cached directory is read-only by convention: serve a copy (`copy_tsdb`), as Prometheus writes to its own.
    """
    names = sorted(names)
    require_prometheus()
    target = CACHE_DIR / tsdb_key(names)
    if (target / "complete").is_file():
        return target
    with _cache_lock():
        if (target / "complete").is_file():  # built while this process waited for the lock
            return target
        _build_scenarios(names, workers)
        building = Path(tempfile.mkdtemp(prefix="building-", dir=CACHE_DIR))
        for name in names:  # blocks are self-contained directories: one TSDB is their union
            for block in _scenario_dir(name).iterdir():
                if block.is_dir():
                    shutil.copytree(block, building / block.name)
        (building / "complete").write_text("\n".join(names) + "\n")
        shutil.rmtree(target, ignore_errors=True)  # a build cut off before its marker was written
        building.rename(target)
    return target


def copy_tsdb(source: Path, data_dir: Path) -> Path:
    """A private copy of a shared TSDB for one running Prometheus."""
    shutil.copytree(source, data_dir, ignore=shutil.ignore_patterns("complete", "wal", "chunks_head", "lock"))
    return data_dir


@contextmanager
def shared_prometheus(names: Iterable[str], tmp_path: Path) -> Iterator[RunningPrometheus]:
    """A real Prometheus serving the shared TSDB of these scenarios (for a session fixture)."""
    with RunningPrometheus(copy_tsdb(shared_tsdb(names), tmp_path / "shared-tsdb")) as prometheus:
        yield prometheus


@contextmanager
def hanging_endpoint() -> Iterator[str]:
    """A URL that accepts connections and never answers: a tool that times out (point any *_URL at it)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # keep it open, say nothing
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True, name="hanging-endpoint")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in held:
            connection.close()
        server.close()


@contextmanager
def scenario_environment(s: Scenario, tmp_path: Path, extra_log_lines: int = 0,
                         data_dir: Path | None = None, prometheus_url: str | None = None,
                         forbidden: Iterable[str] = ()) -> Iterator[dict[str, str]]:
    """Serve the scenario and yield the service's environment: PROMETHEUS_URL, LOKI_URL or the DATADOG_* trio,
    KUBECONFIG, and GRAFANA_URL/GRAFANA_TOKEN when the scenario has dashboards.

    `data_dir` reuses a TSDB already backfilled by `prepare_tsdb` (Prometheus writes to it, so give each running
    server its own copy); by default one is built under `tmp_path`. `prometheus_url` uses a Prometheus already
    serving the scenario (`shared_prometheus`) instead. `forbidden` names Kubernetes resources (`secrets`,
    `events`...) the service account may not read: they answer 403 as RBAC would.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if prometheus_url is None:
            tsdb = data_dir or prepare_tsdb(s, tmp_path / "tsdb")
            prometheus_url = stack.enter_context(RunningPrometheus(tsdb)).url
        env = {"PROMETHEUS_URL": prometheus_url}
        env.update(_logs(stack, s, extra_log_lines))
        kubernetes = stack.enter_context(FakeKubernetes(kubernetes_objects(s), pod_logs=pod_logs(s),
                                                        token=KUBERNETES_TOKEN, forbidden=forbidden))
        kubeconfig = kubernetes.write_kubeconfig(tmp_path / "kubeconfig", namespace=s.kubernetes.namespace)
        env["KUBECONFIG"] = str(kubeconfig)
        if s.grafana and s.grafana.dashboards:
            datasources = [{**d, "url": d.get("url", prometheus_url)} for d in grafana_datasources(s)]
            grafana = stack.enter_context(FakeGrafana(GRAFANA_TOKEN, s.grafana.dashboards, datasources,
                                                      prometheus_url=prometheus_url))
            env.update({"GRAFANA_URL": grafana.url, "GRAFANA_TOKEN": GRAFANA_TOKEN})
        yield env


def _logs(stack: ExitStack, s: Scenario, extra_log_lines: int) -> dict[str, str]:
    """Start the scenario's log backend and return the variables that point at it."""
    if s.logs.backend == "loki":
        loki = stack.enter_context(FakeLoki(log_entries(s, extra_log_lines)))
        return {"LOKI_URL": loki.url}
    datadog = stack.enter_context(FakeDatadog(DATADOG_API_KEY, DATADOG_APP_KEY, datadog_logs(s, extra_log_lines)))
    return {"DATADOG_API_URL": datadog.url, "DATADOG_API_KEY": DATADOG_API_KEY, "DATADOG_APP_KEY": DATADOG_APP_KEY}
