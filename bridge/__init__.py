"""Domain <-> Matrix mapping: centres, people, service rooms, the steward."""
