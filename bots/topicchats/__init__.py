"""Topic chats (anonymer Themenchat) and the way from anonymous to registered."""
