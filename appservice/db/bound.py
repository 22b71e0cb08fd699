"""Every row class bound to one database: a part gets its tables from the ``Rows`` it is
given, never from a module global, so two apps in one process cannot see each other's data.

Each attribute is a subclass of the row class with its ``db`` and ``contact`` (the keys of
the app's contact data, appservice/contact_data.py) set; rows it returns are of that subclass,
so their own methods reach the same database. The base classes carry only the annotations:
a bare ``Person.get(...)`` fails with AttributeError instead of reaching some database.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mautrix.util.async_db import Database

from appservice.contact_data import ContactData

from . import absence as _absence
from . import account_code as _account_code
from . import booking as _booking
from . import centre as _centre
from . import centre_room as _centre_room
from . import client_data as _client_data
from . import client_groups as _client_groups
from . import client_records as _client_records
from . import erasure as _erasure
from . import inactivity as _inactivity
from . import inbox as _inbox
from . import invitation as _invitation
from . import live_chat as _live_chat
from . import monitoring as _monitoring
from . import outcome as _outcome
from . import pending_document as _pending_document
from . import person as _person
from . import personal_data as _personal_data
from . import registration as _registration
from . import request as _request
from . import room_avatar as _room_avatar
from . import topic_chat as _topic_chat
from . import transfer as _transfer
from . import triage as _triage


class Rows:
    """The row classes of one database (``LotseDatabase.rows``)."""

    Person: type[_person.Person]
    Inbox: type[_inbox.Inbox]
    CounsellingRequest: type[_request.CounsellingRequest]
    Absence: type[_absence.Absence]
    CentreSettingRow: type[_centre.CentreSettingRow]
    AuditEntry: type[_centre.AuditEntry]
    ClientNote: type[_client_records.ClientNote]
    ClientDocument: type[_client_records.ClientDocument]
    ClientGroup: type[_client_groups.ClientGroup]
    Invitation: type[_invitation.Invitation]
    Registration: type[_registration.Registration]
    MasterDataValue: type[_client_data.MasterDataValue]
    Bookmark: type[_client_data.Bookmark]
    ErasedPerson: type[_erasure.ErasedPerson]
    TriageDialogue: type[_triage.TriageDialogue]
    Transfer: type[_transfer.Transfer]
    AbsenceNotice: type[_absence.AbsenceNotice]
    CentreRoom: type[_centre_room.CentreRoom]
    CentreMessage: type[_centre_room.CentreMessage]
    PendingDocument: type[_pending_document.PendingDocument]
    CommandOutcome: type[_outcome.CommandOutcome]
    RoomAvatar: type[_room_avatar.RoomAvatar]
    AccountCode: type[_account_code.AccountCode]
    PersonalData: type[_personal_data.PersonalData]
    InactivityNotice: type[_inactivity.InactivityNotice]
    Monitoring: type[_monitoring.Monitoring]
    MonitoringDialogue: type[_monitoring.MonitoringDialogue]
    BookingService: type[_booking.BookingService]
    BookingWindowRow: type[_booking.BookingWindowRow]
    Appointment: type[_booking.Appointment]
    CalendarFeed: type[_booking.CalendarFeed]
    BookingJob: type[_booking.BookingJob]
    BookingOffer: type[_booking.BookingOffer]
    GroupAppointmentRow: type[_booking.GroupAppointmentRow]
    BookingBlocker: type[_booking.BookingBlocker]
    CounsellorVideoLink: type[_booking.CounsellorVideoLink]
    LiveChat: type[_live_chat.LiveChat]
    LiveChatStaff: type[_live_chat.LiveChatStaff]
    LiveChatCount: type[_live_chat.LiveChatCount]
    TopicChat: type[_topic_chat.TopicChat]

    def __init__(self, db: Database, contact: ContactData) -> None:
        self.db = db
        self.contact = contact
        for name, cls in ROW_CLASSES.items():
            setattr(self, name, bind(cls, db, contact))


def bind(cls: Any, db: Database, contact: ContactData) -> Any:
    """A subclass of ``cls`` whose rows live in ``db`` and whose contact data is sealed with
    ``contact`` (other packages bind theirs too, e.g. mailgateway/rows.py)."""
    namespace: dict[str, Any] = {
        "db": db,
        "contact": contact,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
    }
    if dataclasses.is_dataclass(cls):
        namespace["__eq__"] = _same_values
        # Hashable as before where the row class is (frozen): by the same values.
        namespace["__hash__"] = cls.__hash__
    return type(cls.__name__, (cls,), namespace)


def _same_values(self: Any, other: Any) -> bool:
    """A row equals another of the same row class with the same values, whichever database
    each was read from (a dataclass's own ``__eq__`` wants the very same bound class)."""
    base = type(self).__mro__[1]
    if not isinstance(other, base):
        return NotImplemented
    return all(
        getattr(self, f.name) == getattr(other, f.name)
        for f in dataclasses.fields(base)
        if f.compare
    )


ROW_CLASSES: dict[str, Any] = {
    "Person": _person.Person,
    "Inbox": _inbox.Inbox,
    "CounsellingRequest": _request.CounsellingRequest,
    "Absence": _absence.Absence,
    "CentreSettingRow": _centre.CentreSettingRow,
    "AuditEntry": _centre.AuditEntry,
    "ClientNote": _client_records.ClientNote,
    "ClientDocument": _client_records.ClientDocument,
    "ClientGroup": _client_groups.ClientGroup,
    "Invitation": _invitation.Invitation,
    "Registration": _registration.Registration,
    "MasterDataValue": _client_data.MasterDataValue,
    "Bookmark": _client_data.Bookmark,
    "ErasedPerson": _erasure.ErasedPerson,
    "TriageDialogue": _triage.TriageDialogue,
    "Transfer": _transfer.Transfer,
    "AbsenceNotice": _absence.AbsenceNotice,
    "CentreRoom": _centre_room.CentreRoom,
    "CentreMessage": _centre_room.CentreMessage,
    "PendingDocument": _pending_document.PendingDocument,
    "CommandOutcome": _outcome.CommandOutcome,
    "RoomAvatar": _room_avatar.RoomAvatar,
    "AccountCode": _account_code.AccountCode,
    "PersonalData": _personal_data.PersonalData,
    "InactivityNotice": _inactivity.InactivityNotice,
    "Monitoring": _monitoring.Monitoring,
    "MonitoringDialogue": _monitoring.MonitoringDialogue,
    "BookingService": _booking.BookingService,
    "BookingWindowRow": _booking.BookingWindowRow,
    "Appointment": _booking.Appointment,
    "CalendarFeed": _booking.CalendarFeed,
    "BookingJob": _booking.BookingJob,
    "BookingOffer": _booking.BookingOffer,
    "GroupAppointmentRow": _booking.GroupAppointmentRow,
    "BookingBlocker": _booking.BookingBlocker,
    "CounsellorVideoLink": _booking.CounsellorVideoLink,
    "LiveChat": _live_chat.LiveChat,
    "LiveChatStaff": _live_chat.LiveChatStaff,
    "LiveChatCount": _live_chat.LiveChatCount,
    "TopicChat": _topic_chat.TopicChat,
}
