"""Matrix plumbing of Lotse: config, CLI, appservice wiring, E2EE device, database, admin API."""
