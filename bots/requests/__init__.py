"""Counselling requests: intake and assignment, triage (questions, polls), transfers,
availability, absences and what happens to a request without a command (lifecycle)."""
