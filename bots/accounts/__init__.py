"""Accounts: invitations, registration rules, password reset and policy, profiles, the
pure rules of staff accounts, a counsellor's departure and the deletion routine."""
