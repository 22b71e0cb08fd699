"""The mail gateway's row classes bound to one database, as ``appservice.db.Rows`` binds
Lotse's own: a mail part gets its tables from the ``MailRows`` it is given, never from a
module global, so two apps in one process cannot see each other's mail.

The database package never imports this one (imports run one way, DESIGN.md): the app's
mail gateway builds ``MailRows(database)`` from its ``LotseDatabase``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appservice.db import Rows, bind

from .addresses import MailAddress
from .outbox import Outbox
from .preferences import Preferences
from .room_notices import RoomNotices

if TYPE_CHECKING:
    from appservice.db import LotseDatabase

MAIL_ROW_CLASSES = (Preferences, RoomNotices, Outbox, MailAddress)


class MailRows(Rows):
    """Lotse's row classes of one database (the very ones of ``database.rows``) plus
    ``Preferences``, ``RoomNotices``, ``Outbox`` and ``MailAddress`` bound to it."""

    Preferences: type[Preferences]
    RoomNotices: type[RoomNotices]
    Outbox: type[Outbox]
    MailAddress: type[MailAddress]

    def __init__(self, database: LotseDatabase) -> None:  # noqa: D107
        vars(self).update(vars(database.rows))
        for cls in MAIL_ROW_CLASSES:
            setattr(self, cls.__name__, bind(cls, database.main, database.contact))
