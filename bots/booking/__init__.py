"""Booking's functional core: services, booking times, slots, appointments, calendars.

Plain modules with no I/O (no Matrix, no database, no command framework), so every rule is
a function tested from a table. The commands and the database rows call into them:

- ``model``: the data (services, booking windows, blocked times, appointments, slots);
- ``rules``: input checks returning problem codes (the text comes from templates);
- ``slots``: free slots from booking windows minus everything that takes the time away;
- ``closed_days``: the public holidays of a centre's region;
- ``offering``: what a client is offered, holds, and who may cancel, confirm or decline;
- ``group_appointments``: places, joining and adding participants;
- ``reminders``: when reminders and video links are due, keyed so none is sent twice;
- ``video``: Jitsi room links and counsellors' own video links;
- ``feed``: a counsellor's appointments as an iCalendar (RFC 5545) feed;
- ``calendar_view``: the rows of ``calendar day|week|month``.

The shell (commands, reading rows into these types) is the ``shell`` subpackage.
"""
