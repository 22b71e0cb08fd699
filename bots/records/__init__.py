"""Client records: clients and their admin actions, notes, documents, the audit log."""
