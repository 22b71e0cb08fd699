"""The command framework and the bots that people talk to."""
