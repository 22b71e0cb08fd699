"""The centre: settings, centre messages, the admin control room, its counsellors."""
