"""Content-free e-mail notifications (outbox, SMTP, IMAP). Built in the mail-gateway issue."""
