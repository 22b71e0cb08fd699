"""Accounts: invitations, registration rules, password reset and policy, profiles, a
counsellor's departure and the deletion routine."""
