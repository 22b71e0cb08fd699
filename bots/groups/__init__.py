"""Client groups: a counsellor's groups and their rooms."""
