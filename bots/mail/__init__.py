"""Mail settings: a person's address, its confirmation and their notification choices."""
