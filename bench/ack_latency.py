"""Slash-command ack latency under concurrent declares, against a bare Bolt app measured in the same run.

Both servers run as their own processes (uvicorn, one worker) against the same fake Slack Web API.
Each round sends CONCURRENCY signed `/incident declare` commands at once; latency is from send to
the ack's response. Ours records each incident in the database before it acks; the bare app acks
only. It also measures the time from command to the declaration card being posted in Slack,
one declaration at a time.

    python bench/ack_latency.py [--rounds 6] [--concurrency 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.support import SlackSender, free_socket  # noqa: E402

SECRET = "bench-signing-secret"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen([sys.executable, *args, "--port", str(port)], cwd=ROOT,
                               env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{args} did not start")


async def burst(sender: SlackSender, client: httpx.AsyncClient, concurrency: int, tag: str) -> list[float]:
    bodies = [sender.command_body(f"declare SEV3 Bench {tag}-{n}") for n in range(concurrency)]

    async def one(body: str) -> float:
        from tests.support import sign

        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}
        started = time.perf_counter()
        response = await client.post(f"{sender.app_url}/slack/events", content=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        return elapsed

    return list(await asyncio.gather(*(one(b) for b in bodies)))


async def ack_latencies(url: str, slack: FakeSlack, rounds: int, concurrency: int) -> list[float]:
    sender = SlackSender(url, SECRET, slack)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await burst(sender, client, concurrency, "warmup")
        for r in range(rounds):
            latencies += await burst(sender, client, concurrency, f"r{r}")
    return latencies


def card_latencies(url: str, slack: FakeSlack, count: int) -> list[float]:
    """Command sent -> declaration card present in the new war room, one declaration at a time."""
    sender = SlackSender(url, SECRET, slack)
    results = []
    for n in range(count):
        known = len(slack.channel_ids())
        started = time.perf_counter()
        assert sender.command(f"declare SEV2 Card timing {n}").status_code == 200
        while True:
            new = slack.channel_ids()[known:]
            if new and slack.messages(new[0]):
                break
            time.sleep(0.002)
        results.append(time.perf_counter() - started)
    return results


def describe(name: str, values: list[float]) -> str:
    return (f"{name:<28} n={len(values):<4} p50={percentile(values, 50) * 1000:7.1f} ms  "
            f"p99={percentile(values, 99) * 1000:7.1f} ms  max={max(values) * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        slack.add_user("U0DECLARER", "alice")
        slack.add_channel("incidents")
        env = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url,
               "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db"}
        bare, bare_url = start(["bench/bare_bolt.py"], env)
        try:
            baseline = asyncio.run(ack_latencies(bare_url, slack, args.rounds, args.concurrency))
        finally:
            bare.terminate()
        ours_process, ours_url = start(["-m", "app.cli", "serve", "--host", "127.0.0.1"], env)
        try:
            cards = card_latencies(ours_url, slack, args.cards)
            ours = asyncio.run(ack_latencies(ours_url, slack, args.rounds, args.concurrency))
        finally:
            ours_process.terminate()

    backend = (args.database_url or "sqlite").split(":", 1)[0]
    print(f"ack latency, {args.rounds} rounds of {args.concurrency} concurrent signed declares ({backend})")
    print(describe("bare Bolt (ack only)", baseline))
    print(describe("incidentbot (record + ack)", ours))
    print(f"ratio p50 {percentile(ours, 50) / percentile(baseline, 50):.2f}x   "
          f"p99 {percentile(ours, 99) / percentile(baseline, 99):.2f}x   (goal: p99 <= 1.5x)")
    print(describe("command -> card posted", cards))
    print(f"mean card time {statistics.mean(cards) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
