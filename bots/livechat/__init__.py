"""The anonymous live chat: landing page rules, starting a chat, staffing, ending, erasing."""
