"""The centre: settings, centre messages, the admin control room, counsellors, staff rules."""
