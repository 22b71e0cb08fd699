"""Counters of the mail gateway for the operator's /metrics.

Created without a registry: the composition root registers them with the app's registry,
so this package stays free of appservice's plumbing beyond its database and config.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

MAILS = Counter(
    "lotse_mails",
    "Notification mails by outcome: sent, deferred (temporary failure, retried), failed",
    ["outcome"],
    registry=None,
)


def register(registry: CollectorRegistry) -> None:
    """Export the mail counters with the rest of Lotse's metrics (idempotent)."""
    try:
        registry.register(MAILS)
    except ValueError:
        pass  # already registered (a second app in the same process, e.g. in tests)
