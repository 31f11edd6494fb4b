"""The runbook-executor: a run's report (pre-flight, steps, summary, verification) and runbook suggestions."""
