"""Prometheus counters, exported on the web listener's /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry()

TRANSACTIONS = Counter(
    "lotse_transactions", "Transactions received from the homeserver", registry=REGISTRY
)
EVENTS_RECEIVED = Counter(
    "lotse_events_received", "New room events stored in the inbox", registry=REGISTRY
)
EVENTS_HANDLED = Counter("lotse_events_handled", "Room events handled", registry=REGISTRY)
EVENTS_FAILED = Counter(
    "lotse_events_failed", "Room events given up on after retries", registry=REGISTRY
)
COMMANDS = Counter(
    "lotse_commands", "Commands answered by the assistant", ["outcome"], registry=REGISTRY
)
DECRYPTION_FAILURES = Counter(
    "lotse_decryption_failures", "Messages the assistant could not decrypt", registry=REGISTRY
)
UP = Gauge("lotse_up", "1 while the appservice is running", registry=REGISTRY)
JOB_RUNS = Counter(
    "lotse_job_runs",
    "Runs of scheduled jobs (deletion routine, overdue requests, mail notices) by outcome",
    ["job", "outcome"],
    registry=REGISTRY,
)
