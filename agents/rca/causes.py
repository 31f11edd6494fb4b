"""The failure modes the RCA engine recognises, and how each is explained.

A cause says which signals and log lines show it, and turns the facts of one incident into the analysis'
prose: summary, five whys, root cause, contributing factors and recommendations. The prose only restates
facts the engine measured; where telemetry cannot know (the line of code, the review that missed it) it says
what to confirm instead of inventing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Facts:
    service: str
    component: str
    symptom: str  # "returned 5xx errors (up to 38% of requests)"
    onset: str  # "14:20"
    mechanism: str  # "database connection pool use rose from 48% to 100% (14:20 to 14:35)"
    trigger: str | None = None  # "feature flag async-payment-processing was enabled (14:15)"
    trigger_subject: str | None = None
    trigger_lag: str | None = None  # "5 minutes"
    log_example: str | None = None
    first_alert: str | None = None  # "14:30"
    mitigation: str | None = None  # "the flag was disabled at 14:45"

    @property
    def mechanism_sentence(self) -> str:
        return self.mechanism[:1].upper() + self.mechanism[1:]


@dataclass(frozen=True)
class Narrative:
    summary: str
    whys: list[tuple[str, str]]
    root_cause: str
    factors: list[str]
    immediate: str
    short_term: str
    medium_term: str
    long_term: str


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    signals: tuple[str, ...] = ()  # signal names whose anomaly shows this mechanism
    logs: re.Pattern[str] | None = None  # log lines that show it
    explain: Callable[[Facts], Narrative] = field(default=lambda f: _generic(f), repr=False)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _triggered(f: Facts, otherwise: str) -> str:
    if not f.trigger:
        return otherwise
    # A change with no signal after it has no lag worth stating.
    waited = f.trigger_lag and not f.trigger_lag.startswith("0 ")
    return f"{f.trigger} ({f.trigger_lag} before the first signal)" if waited else f"{f.trigger}"


def _detection_why(f: Facts, signal: str) -> tuple[str, str]:
    alert = f"the first alert fired at {f.first_alert}" if f.first_alert else "no alert is recorded"
    return ("Why wasn't it caught before customers noticed?",
            f"Nothing alerted on {signal}; {alert}, after the symptoms began at {f.onset}.")


def _pool(f: Facts) -> Narrative:
    cause_of_hold = (f"The climb began {f.trigger_lag} after {f.trigger}; the code path it enabled keeps "
                     "connections checked out (confirm in code review: look for a connection not released on an "
                     "error or async path)." if f.trigger else
                     "No recorded change precedes it; look for slow queries, lock waits or a code path that does "
                     "not release its connection.")
    return Narrative(
        summary=(f"The {f.service} outage was caused by database connection pool exhaustion in {f.component}"
                 + (f", triggered when {f.trigger}." if f.trigger else ".")),
        whys=[
            (f"Why did {f.service} {f.symptom}?", "Requests could not get a database connection: the pool was "
             "exhausted."),
            ("Why was the pool exhausted?", f"Connections were taken and not returned: {f.mechanism}, without a "
             "matching rise in traffic."),
            ("Why were connections not returned?", cause_of_hold),
            ("Why did that fail requests instead of slowing them?", "The pool's maximum caps concurrency; waiting "
             "requests timed out" + (f" (\"{f.log_example}\")." if f.log_example else ".")),
            _detection_why(f, "connection pool utilisation"),
        ],
        root_cause=(f"Connections leaked from the {f.component} database pool"
                    + (f" after {f.trigger}" if f.trigger else "") + ", until no connection was left for requests."),
        factors=["No alert on connection pool utilisation before it reached its limit",
                 "The pool size leaves little headroom for connections held longer than usual",
                 "Load tests do not exercise the code path that holds connections"
                 + (f" ({f.trigger_subject})" if f.trigger_subject else "")],
        immediate=(f"Keep {f.trigger_subject} off and release the leaked connections (restart {f.component})"
                   if f.trigger_subject else f"Restart {f.component} to release connections; find the leaking path"),
        short_term="Alert on pool utilisation at 80% and on connection wait time",
        medium_term="Enable connection leak detection (e.g. a leak-detection threshold) in the pool",
        long_term="Add connection-failure and slow-release cases to load and chaos tests",
    )


def _bad_deploy(f: Facts) -> Narrative:
    return Narrative(
        summary=f"The {f.service} incident was caused by a faulty release: {f.trigger or 'a new rollout'}.",
        whys=[
            (f"Why did {f.service} {f.symptom}?", "The new version fails on requests the previous one served: "
             + (f"\"{f.log_example}\"." if f.log_example else "new errors appeared right after the rollout.")),
            ("Why did the new version fail?", f"{f.mechanism_sentence}. The errors are new: they were not in the "
             "logs before the rollout."),
            ("Why did the change reach production?", "The failing path was not covered by the tests and checks run "
             "before release (confirm which in the change's review)."),
            ("Why did it affect all traffic?", "The rollout replaced every replica with no canary step or automated "
             "analysis to stop it."),
            _detection_why(f, "the error rate of the new version"),
        ],
        root_cause=f"A defect shipped in {f.trigger or 'the latest rollout'} of {f.component}.",
        factors=["No canary or progressive rollout with automatic analysis",
                 "The failing path is not covered by pre-release tests",
                 "No alert on errors per version right after a deploy"],
        immediate=f"Roll back {f.component} to the previous revision (or keep the rollback in place)",
        short_term="Fix the defect and add a regression test for the failing request",
        medium_term="Canary releases with automatic rollback on error-rate regression",
        long_term="Deploy gates that compare error rates of new and old versions before full rollout",
    )


def _config_change(f: Facts) -> Narrative:
    return Narrative(
        summary=f"The {f.service} incident was caused by a configuration change: {f.trigger or 'a config update'}.",
        whys=[
            (f"Why did {f.service} {f.symptom}?", "It could not work with its new configuration: "
             + (f"\"{f.log_example}\"." if f.log_example else "errors began right after the change.")),
            ("Why was the configuration wrong?", f"{_triggered(f, 'A configuration value changed')}; the new value "
             "is not one the service accepts or expects."),
            ("Why did the change apply to production unchecked?", "Configuration is not validated against the "
             "service's schema before it is applied."),
            ("Why did every instance pick it up at once?", "Config changes are not rolled out gradually like code."),
            _detection_why(f, "configuration errors"),
        ],
        root_cause=f"An invalid configuration value reached {f.component}"
                   + (f" through {f.trigger_subject}." if f.trigger_subject else "."),
        factors=["No schema validation of configuration before apply",
                 "Configuration changes are applied to all instances at once",
                 "Config changes are not announced in the deploy channel"],
        immediate=f"Revert {f.trigger_subject or 'the configuration change'} and restart affected pods",
        short_term="Validate configuration in CI against the service's schema",
        medium_term="Roll out configuration changes progressively, as code",
        long_term="Treat configuration as code: reviewed, versioned and tested before apply",
    )


def _certificate(f: Facts) -> Narrative:
    return Narrative(
        summary=f"The {f.service} incident was caused by an expired TLS certificate on {f.component}.",
        whys=[
            (f"Why did {f.service} {f.symptom}?", "TLS handshakes failed: "
             + (f"\"{f.log_example}\"." if f.log_example else "the certificate was no longer valid.")),
            ("Why did handshakes fail?", f"{f.mechanism_sentence}."),
            ("Why was the certificate not renewed?", "Renewal did not happen or did not reach this endpoint (check "
             "the issuer's renewal job and where the certificate is mounted)."),
            ("Why did nobody know it was expiring?", "No alert on certificate expiry ahead of time."),
            _detection_why(f, "days left before certificate expiry"),
        ],
        root_cause=f"The TLS certificate served by {f.component} expired and was not renewed.",
        factors=["No expiry alert weeks before the deadline", "Renewal is manual or its failure is silent",
                 "Certificates are not inventoried with owners"],
        immediate=f"Issue and install a valid certificate on {f.component}",
        short_term="Alert when any certificate has less than 21 days left",
        medium_term="Automate renewal (e.g. cert-manager / ACME) and alert on renewal failures",
        long_term="Keep an inventory of certificates with owners and expiry dates",
    )


def _node_pressure(f: Facts) -> Narrative:
    return Narrative(
        summary=f"The {f.service} incident was caused by resource pressure on node {f.component}, which evicted "
                f"or starved its pods.",
        whys=[
            (f"Why did {f.service} {f.symptom}?", f"Its pods on {f.component} were evicted or starved."),
            ("Why were they evicted?", f"{f.mechanism_sentence}; the kubelet evicts pods to relieve pressure."),
            ("Why did the node come under pressure?", "Pods on it use more than they request, so the scheduler "
             "packed more onto it than it can hold (check requests and limits of the node's pods)."),
            ("Why did losing one node hurt the service?", "Too many of its replicas ran on that node: no spread "
             "constraint or disruption budget kept enough elsewhere."),
            _detection_why(f, "node pressure conditions"),
        ],
        root_cause=f"Node {f.component} ran out of resources and evicted {f.service}'s pods.",
        factors=["Resource requests below real usage", "No topology spread across nodes for the service",
                 "No alert on node pressure conditions"],
        immediate=f"Cordon and drain {f.component}; make sure replicas run elsewhere",
        short_term="Set requests to observed usage and add a PodDisruptionBudget",
        medium_term="Topology spread constraints so replicas never share one node",
        long_term="Capacity planning and alerts on node allocatable headroom",
    )


def _noisy_neighbour(f: Facts) -> Narrative:
    return Narrative(
        summary=f"The {f.service} incident was caused by a noisy neighbour: {f.component} consumed the CPU of "
                f"the node it shares with {f.service}.",
        whys=[
            (f"Why did {f.service} {f.symptom}?", "Its pods were starved of CPU and throttled."),
            ("Why were they starved?", f"{f.mechanism_sentence}; nothing of {f.service} changed."),
            (f"Why could {f.component} take that CPU?", "It runs without a CPU limit (or with a limit far above its "
             "request) on the same node."),
            ("Why were they on the same node?", f"No anti-affinity or node pool keeps batch work away from "
             f"{f.service}."),
            _detection_why(f, "CPU throttling"),
        ],
        root_cause=f"{f.component} used the node's spare CPU and starved {f.service}'s pods on the same node.",
        factors=["Batch and latency-sensitive workloads share nodes", "CPU requests below real usage",
                 "No alert on CPU throttling"],
        immediate=f"Move or throttle {f.component}; reschedule {f.service}'s pods if needed",
        short_term=f"Set CPU requests and limits on {f.component}",
        medium_term="Separate node pools (or anti-affinity) for batch and serving workloads",
        long_term="Guaranteed QoS for latency-sensitive services and throttling alerts",
    )


def _dependency(f: Facts) -> Narrative:
    return Narrative(
        summary=f"The {f.service} incident was caused by an outage of its dependency {f.component}.",
        whys=[
            (f"Why did {f.service} {f.symptom}?", f"Calls to {f.component} failed: "
             + (f"\"{f.log_example}\"." if f.log_example else "its answers were errors and timeouts.")),
            (f"Why did calls to {f.component} fail?",
             f"{f.mechanism_sentence}; nothing of {f.service} changed before it."),
            (f"Why did {f.component}'s failure become ours?", "The call is on the critical path without a fallback, "
             "and failing calls were retried or waited on instead of failing fast."),
            ("Why was there no degradation mode?", "No circuit breaker or cached answer for this dependency."),
            _detection_why(f, f"errors calling {f.component}"),
        ],
        root_cause=f"{f.component}, which {f.service} calls on its critical path, failed; {f.service} had no "
                   "fallback.",
        factors=[f"No circuit breaker or fallback for {f.component}",
                 "Retries without backoff add load to a failing dependency",
                 f"No alert on {f.component}'s error rate as seen from {f.service}"],
        immediate=f"Engage {f.component}'s owners; shed or degrade the calls to it",
        short_term=f"Circuit breaker with timeouts and backoff on calls to {f.component}",
        medium_term="A degraded mode (cached or queued answers) when the dependency is down",
        long_term="Dependency SLOs and game days that take the dependency away",
    )


def _dns(f: Facts) -> Narrative:
    return Narrative(
        summary=f"The {f.service} incident was caused by DNS resolution failures in the cluster"
                + (f", after {f.trigger}." if f.trigger else "."),
        whys=[
            (f"Why did {f.service} {f.symptom}?", "It could not resolve the names of what it calls: "
             + (f"\"{f.log_example}\"." if f.log_example else "lookups failed.")),
            ("Why did lookups fail?", f"{f.mechanism_sentence}."),
            ("Why did DNS start failing?", _triggered(f, "No recorded change explains it: check CoreDNS's pods, "
                                                        "its config and upstream resolvers.")),
            ("Why did a DNS failure take the service down?", "Connections are opened per request, so every request "
             "needs a lookup; answers are not cached long enough to ride it out."),
            _detection_why(f, "DNS failure rate"),
        ],
        root_cause="Cluster DNS answered with failures" + (f" after {f.trigger}" if f.trigger else "")
                   + f", so {f.service} could not reach its dependencies.",
        factors=["No alert on DNS failure rate", "DNS config changes are not tested before apply",
                 "Clients do not keep connections or cache answers"],
        immediate=f"Revert {f.trigger_subject}" if f.trigger_subject else "Restore CoreDNS (restart, check config)",
        short_term="Alert on SERVFAIL/NXDOMAIN rate from CoreDNS",
        medium_term="Validate CoreDNS config in CI; NodeLocal DNSCache on every node",
        long_term="Connection pooling and DNS caching in clients",
    )


def _disk_full(f: Facts) -> Narrative:
    return Narrative(
        summary=f"The {f.service} incident was caused by a full disk: {f.component}'s volume ran out of space.",
        whys=[
            (f"Why did {f.service} {f.symptom}?", "Writes failed: "
             + (f"\"{f.log_example}\"." if f.log_example else "the volume had no space left.")),
            ("Why was there no space?", f"{f.mechanism_sentence}."),
            ("Why did usage grow until full?", "Data is written faster than it is removed (check retention, log "
             "rotation and compaction on this volume)."),
            ("Why was the volume not grown in time?", "No alert on usage growth, and the volume does not expand."),
            _detection_why(f, "volume usage"),
        ],
        root_cause=f"The volume of {f.component} filled up and writes failed.",
        factors=["No alert on volume usage or time-to-full", "Retention or cleanup does not keep pace with writes",
                 "The volume cannot expand automatically"],
        immediate=f"Free space or expand the volume of {f.component}",
        short_term="Alert when a volume is predicted full within 24 hours",
        medium_term="Retention and cleanup policies for the data on it",
        long_term="Volume auto-expansion and capacity reviews",
    )


def _memory(f: Facts) -> Narrative:
    return Narrative(
        summary=f"The {f.service} incident was caused by memory exhaustion in {f.component}: containers were "
                "OOM-killed.",
        whys=[
            (f"Why did {f.service} {f.symptom}?", "Its containers were killed for exceeding their memory limit and "
             "restarted."),
            ("Why did they exceed the limit?", f"{f.mechanism_sentence}."),
            ("Why did memory grow?", _triggered(f, "Memory grows without a matching change in traffic: a leak.")),
            ("Why did restarts not contain it?", "Every replica leaks at the same rate, so they fail together."),
            _detection_why(f, "memory use against the limit"),
        ],
        root_cause=f"Memory leaked in {f.component} until its containers hit their limit.",
        factors=["No alert on memory nearing the limit", "No heap profiling in production",
                 "Replicas restart at the same time"],
        immediate=f"Roll back or restart {f.component}; raise the limit temporarily",
        short_term="Alert at 85% of the memory limit",
        medium_term="Continuous profiling to find the leak",
        long_term="Soak tests that run long enough to show leaks",
    )


def _generic(f: Facts) -> Narrative:
    return Narrative(
        summary=f"{f.service} began to {f.symptom}" + (f" shortly after {f.trigger}." if f.trigger else "."),
        whys=[
            (f"Why did {f.service} {f.symptom}?", f"{f.mechanism_sentence}."),
            ("Why then?", _triggered(f, "No recorded change precedes it.")),
            ("What is not known yet?", "The mechanism: telemetry shows the correlation, not the code path."),
            ("What would confirm it?", "Reverting the change and watching the error rate."),
            _detection_why(f, "this signal"),
        ],
        root_cause=(f"{f.trigger[:1].upper()}{f.trigger[1:]} is the most likely trigger; the mechanism needs "
                    "confirming." if f.trigger
                    else "Not established from telemetry; see the hypotheses."),
        factors=["The change was not rolled out progressively"],
        immediate=f"Revert {f.trigger_subject}" if f.trigger_subject else "Mitigate by rollback or failover",
        short_term="Confirm the mechanism in code review",
        medium_term="Alert on the signal that moved first",
        long_term="Progressive delivery for every kind of change",
    )


def _told(what: str, how: str, fix: str, prevent: str) -> Callable[[Facts], Narrative]:
    """The narrative of a mechanism in one component, started by a change when one is known."""
    def explain(f: Facts) -> Narrative:
        after = f" after {f.trigger}" if f.trigger else ""
        return Narrative(
            summary=f"The {f.service} incident was caused by {what} in {f.component}{after}.",
            whys=[
                (f"Why did {f.service} {f.symptom}?", f"{f.mechanism_sentence}."
                 + (f" Logs: \"{f.log_example}\"." if f.log_example else "")),
                (f"Why did {f.component} fail?", how),
                ("Why then?", _triggered(f, "No recorded change precedes it; the load or state built up.")),
                ("Why did it reach customers?", f"{f.service} depends on {f.component} without a fallback."
                 if f.component != f.service else "Nothing limited the damage before requests failed."),
                _detection_why(f, what),
            ],
            root_cause=f"{what[:1].upper()}{what[1:]} in {f.component}{after}: {f.mechanism}.",
            factors=[f"No alert on {what} before customers noticed", f"{f.service} has no fallback when "
                     f"{f.component} degrades"],
            immediate=fix.format(component=f.component, trigger=f.trigger_subject or f.component),
            short_term=f"Alert on the signal that moved first ({f.mechanism[:60]})",
            medium_term=prevent,
            long_term="Rehearse this failure in a game day",
        )
    return explain


CAUSES: dict[str, Cause] = {c.id: c for c in [
    Cause("connection-pool-exhaustion", "Database connection pool exhaustion", ("db_pool_utilisation",),
          _rx(r"connection is not available|pool exhausted|connection leak|pool.*timed? ?out|too many connections|"
              r"remaining connection slots|could not obtain connection|acquire.*connection"), _pool),
    Cause("bad-deploy", "Faulty release", (),
          _rx(r"exception|traceback|panic|typeerror|nullpointer|undefined|segfault|stack trace"), _bad_deploy),
    Cause("config-change", "Configuration change", (),
          _rx(r"config|invalid value|unknown (?:key|field|option)|failed to (?:load|parse)|missing required"),
          _config_change),
    Cause("certificate-expired", "Expired TLS certificate", ("certificate_seconds_left",),
          _rx(r"x509|certificate (?:has )?expired|certificate verify failed|tls handshake|ssl"), _certificate),
    Cause("node-pressure", "Node resource pressure", ("node_pressure",),
          _rx(r"evict|memorypressure|diskpressure|node.*pressure"), _node_pressure),
    Cause("noisy-neighbour", "Noisy neighbour", ("pod_cpu", "cpu_throttling"), None, _noisy_neighbour),
    Cause("dependency-outage", "Dependency outage", ("dependency_error_ratio",),
          _rx(r"upstream|returned 5\d\d|connect(?:ion)? timeout|connection refused|"
              r"service unavailable|bad gateway|gateway timeout|circuit"), _dependency),
    Cause("dns-failure", "DNS resolution failure", ("dns_failures",),
          _rx(r"no such host|nxdomain|servfail|name resolution|lookup .* on|server misbehaving|"
              r"could not resolve|unknownhost"), _dns),
    Cause("disk-full", "Disk full", ("volume_utilisation",),
          _rx(r"no space left|disk full|enospc|disk quota|filesystem full"), _disk_full),
    Cause("memory-leak", "Memory exhaustion", ("memory_utilisation", "container_restarts", "oom_killed"),
          _rx(r"out of memory|oomkill|oom-kill|heap space|memoryerror|cannot allocate"), _memory),
    Cause("feature-flag", "Feature flag change", (), None, _generic),
    Cause("configmap-change", "ConfigMap change", (),
          _rx(r"config|invalid|unknown (?:key|field|option)|failed to (?:load|parse)|reload"), _config_change),
    Cause("secret-rotation", "Secret rotation", (),
          _rx(r"password authentication failed|authentication failed|access denied|unauthori[sz]ed|invalid "
              r"credentials|permission denied|forbidden"),
          _told("a rotated Secret the running pods did not pick up",
                "The credentials changed; connections opened with the new or old ones were refused.",
                "Restart {component} so it reads the current Secret, or restore the previous credentials",
                "Rotate credentials with overlap (both valid) and reload them without a restart")),
    Cause("bad-gitops-sync", "GitOps sync changed the workload", (),
          _rx(r"oom|out of memory|killed|crashloop|back-off"),
          _told("a GitOps sync that changed the pod template",
                "The synced manifest changed the pod template (resources, env or image) in a way the service "
                "cannot run with.",
                "Revert the commit the sync applied, or roll {component} back",
                "Review manifest changes to resources and limits before sync; sync progressively")),
    Cause("autoscaler-at-max", "Autoscaler at its maximum", ("autoscaler_at_max",),
          _rx(r"scaling ?limited|maxreplicas|desired replica count is more than the maximum|at max"),
          _told("capacity exhaustion (the autoscaler at its maximum replicas)",
                "Demand exceeded what the maximum number of replicas can serve; the autoscaler could add no more.",
                "Raise the autoscaler's maximum for {component} or shed load",
                "Capacity plan the autoscaler's maximum against peak traffic")),
    Cause("rate-limited", "Rate limited by a dependency", ("rate_limited",),
          _rx(r"\b429\b|too many requests|rate.?limit|quota exceeded|throttl"),
          _told("rate limiting by a dependency",
                "It refused calls beyond its rate limit (HTTP 429 or an equivalent).",
                "Reduce the call rate to {component} (backoff, batching) or ask for a higher quota",
                "Client-side rate limiting and backoff for calls to {component}")),
    Cause("node-not-ready", "Node failure", ("node_not_ready",),
          _rx(r"nodenotready|node .*not ?ready|kubelet stopped posting|node lost|node is not ready"),
          _told("the loss of a node", "The node stopped reporting Ready, and the pods on it stopped serving.",
                "Cordon and drain {component}; make sure replicas rescheduled elsewhere",
                "Spread replicas across nodes and zones (topology spread, PodDisruptionBudgets)")),
    Cause("job-saturating-database", "Batch job saturating a shared dependency", (),
          _rx(r"too many connections|lock|timeout|deadlock|slow query|canceling statement"),
          _told("a batch job saturating a dependency it shares with the service",
                "The job's load (connections, queries, locks) took the capacity the service needed.",
                "Stop or throttle {trigger}; move it off peak",
                "Give batch work its own capacity (a replica, a connection limit, a schedule off peak)")),
    Cause("schema-migration-lock", "Schema migration", (),
          _rx(r"lock|migrat|relation .* does not exist|column .* does not exist|undefined column|timeout"),
          _told("a schema migration",
                "The migration locked tables or changed the schema the running code expects.",
                "Stop the migration or roll it back; release the locks held by {trigger}",
                "Online, backwards-compatible migrations (expand/contract) with lock timeouts")),
    Cause("cache-stampede", "Cache flush stampede", (),
          _rx(r"cache miss|flush|stampede|thundering"),
          _told("a cache flush that sent every request to the backing store",
                "With the cache empty every request went to the database at once.",
                "Warm the cache; rate-limit cache rebuilds",
                "Request coalescing and staggered expiry; never flush a whole cache in production")),
]}
