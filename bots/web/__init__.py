"""The web pages the bots serve: invitation (set a password), registration, password reset."""
