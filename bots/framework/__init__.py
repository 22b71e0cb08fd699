"""The command framework: parsing, the command registry, dispatch, help, the services a
command may use, and the capability-neutral helpers (names, dates, formatting, rate limits)."""
