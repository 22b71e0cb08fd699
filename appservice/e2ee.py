"""The assistant's end-to-end-encryption device.

The recipe (see the README's operator section): the device is created MSC4190-style with the
as_token, and runs its own ``/sync`` for to-device messages and one-time-key counts, while room
events reach us by transaction. Room keys sent while Lotse is down wait in Synapse's device
inbox and arrive with the next ``/sync``; no experimental Synapse option is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable
from typing import Any

from mautrix.api import Method, Path
from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.client import Client, InternalEventType
from mautrix.crypto import OlmMachine, PgCryptoStore
from mautrix.errors import EncryptionError, MatrixError, SessionNotFound
from mautrix.types import (
    EncryptedEvent,
    EncryptedMegolmEventContent,
    EventFilter,
    EventType,
    Filter,
    Membership,
    MessageEvent,
    RoomEventFilter,
    RoomFilter,
    RoomID,
    StateEvent,
    StateFilter,
    TrustState,
    UserID,
)

from .cross_signing import SEAL_PURPOSE, CrossSigning, fingerprint
from .db import LotseDatabase
from .sealing import sealer

log = logging.getLogger("lotse.e2ee")

_ALL = EventType.find("*")
# Only to-device messages, device lists and key counts: room events come by transaction.
SYNC_FILTER = Filter(
    account_data=EventFilter(not_types=[_ALL]),
    presence=EventFilter(not_types=[_ALL]),
    room=RoomFilter(
        include_leave=False,
        state=StateFilter(not_types=[_ALL]),
        timeline=RoomEventFilter(not_types=[_ALL]),
        account_data=RoomEventFilter(not_types=[_ALL]),
        ephemeral=RoomEventFilter(not_types=[_ALL]),
    ),
)


class RoomNotPrivate(MatrixError):
    """Someone who does not belong is joined or invited: nothing is encrypted for the room."""


def strangers(members: Iterable[str], allowed: Collection[str]) -> frozenset[str]:
    """The members of a room who are not among those allowed in it."""
    return frozenset(m for m in members if m not in allowed)


class AssistantDevice:
    """Owns the olm account, decrypts incoming and encrypts outgoing service-room events."""

    def __init__(
        self,
        *,
        homeserver: str,
        user_id: UserID,
        as_token: str,
        pickle_key: str,
        sealing_key: str,
        previous_sealing_keys: tuple[str, ...] = (),
        device_name: str,
        db: LotseDatabase,
        state_store: PgASStateStore,
        session_wait_seconds: float,
    ) -> None:
        self.user_id = user_id
        self.as_token = as_token
        self.device_name = device_name
        self.session_wait_seconds = session_wait_seconds
        self.state_store = state_store
        self._store_args = (user_id, pickle_key, db.crypto_db)
        self.crypto_store = PgCryptoStore(*self._store_args)
        self.client = Client(
            mxid=user_id,
            base_url=homeserver,
            sync_store=self.crypto_store,
            state_store=state_store,
            log=logging.getLogger("lotse.e2ee.client"),
        )
        self.client.api.token = as_token
        self.client.api.as_user_id = user_id
        # PgASStateStore implements the crypto StateStore methods (encryption info, members).
        self.olm = OlmMachine(self.client, self.crypto_store, state_store)  # type: ignore[arg-type]
        # People's devices are usually unverified; the bot trusts them as Element does by default.
        self.olm.share_keys_min_trust = TrustState.UNVERIFIED
        self.olm.send_keys_min_trust = TrustState.UNVERIFIED
        self.cross_signing = CrossSigning(
            self.olm, db, sealer(sealing_key, SEAL_PURPOSE, previous_sealing_keys)
        )
        # The master key's public part once ``start`` ran: what people compare (see ``help``).
        self.master_key = ""
        self._share_locks: dict[RoomID, asyncio.Lock] = {}
        self._sync_task: asyncio.Future | None = None
        self.sync_failed = asyncio.Event()
        self.client.add_event_handler(InternalEventType.SYNC_STOPPED, self._on_sync_stopped)

    @property
    def device_id(self) -> str:
        return str(self.client.device_id)

    @property
    def identity(self) -> str:
        """The master key as people compare it (empty before ``start``)."""
        return fingerprint(self.master_key)

    async def start(self) -> None:
        """Create or reuse the device, publish keys, drop stale devices, sign the device with
        the assistant's cross-signing identity, start syncing.

        Call only once the transaction listener runs: touching devices makes Synapse push a
        transaction at once, and a refused one marks the appservice down.
        """
        await self.crypto_store.open()
        device_id = await self.crypto_store.get_device_id()
        await self.client.create_device_msc4190(
            device_id=device_id or "", initial_display_name=self.device_name
        )
        await self.olm.load()
        if not device_id:
            await self.crypto_store.put_device_id(self.client.device_id)
            log.info("created assistant device %s", self.client.device_id)
            await self.olm.share_keys()
        elif self.olm.account is None or not self.olm.account.shared:
            await self.olm.share_keys()
        elif not await self._keys_on_server():
            # The device was deleted on the server and came back empty: start afresh.
            log.warning("assistant device %s lost its keys on the server; resetting", device_id)
            await self.crypto_store.delete()
            # A fresh store object: the old one still caches the deleted account (already
            # "shared", so its keys would never reach the new device) and its olm sessions.
            self.crypto_store = PgCryptoStore(*self._store_args)
            self.olm.crypto_store = self.crypto_store
            self.client.sync_store = self.crypto_store
            await self.crypto_store.open()
            await self.client.create_device_msc4190(
                device_id="", initial_display_name=self.device_name
            )
            await self.olm.load()
            await self.crypto_store.put_device_id(self.client.device_id)
            await self.olm.share_keys()
        await self._delete_stale_devices()
        # At every start, so that a re-created device is signed again.
        self.master_key = await self.cross_signing.ensure()
        self._sync_task = self.client.start(SYNC_FILTER)
        log.info(
            "assistant device %s ready; identity (master key) %s",
            self.client.device_id,
            self.identity,
        )

    async def stop(self) -> None:
        self.client.stop()
        if self._sync_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._sync_task), timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                pass
        await self.crypto_store.close()
        await self.client.api.session.close()

    async def _on_sync_stopped(self, data: dict[str, Any]) -> None:
        if data.get("error"):
            log.error("assistant device sync stopped: %s", type(data["error"]).__name__)
            self.sync_failed.set()

    async def _keys_on_server(self) -> bool:
        resp = await self.client.query_keys([self.user_id])
        own = resp.device_keys.get(self.user_id, {}).get(self.client.device_id)
        return bool(own and own.keys)

    async def _delete_stale_devices(self) -> None:
        """Old devices of the bot would still be sent room keys: remove them."""
        resp = await self.client.api.request(Method.GET, Path.v3.devices)
        for dev in resp.get("devices", []):
            if dev.get("device_id") != self.client.device_id:
                log.info("deleting stale assistant device %s", dev.get("device_id"))
                await self.client.api.request(Method.DELETE, Path.v3.devices[dev["device_id"]])

    async def handle_member_event(self, evt: StateEvent) -> None:
        """Rotate the outbound session when someone leaves, so they get no future keys.

        mautrix skips the rotation when its cached membership already equals the new one,
        but our own intents cache an invite or kick before its event arrives (IntentAPI
        ``invite_user``/``kick_user``): the invitee would get no key, the removed person no
        rotation. Judge by the event's own ``prev_content`` instead (the inbox delivers each
        event once).
        """
        if evt.unsigned is not None and evt.unsigned.get("mautrix_prev_membership") is not None:
            evt.unsigned["mautrix_prev_membership"] = None
        await self.olm.handle_member_event(evt)

    async def decrypt(self, evt: EncryptedEvent) -> MessageEvent:
        try:
            return await self.olm.decrypt_megolm_event(evt)
        except SessionNotFound as e:
            # The room key travels separately and may land a moment after the message.
            if not await self.olm.wait_for_session(
                evt.room_id, e.session_id, timeout=self.session_wait_seconds
            ):
                raise
            return await self.olm.decrypt_megolm_event(evt)

    async def encrypt(
        self, room_id: RoomID, event_type: EventType, content: Any, *, allowed: Collection[str]
    ) -> EncryptedMegolmEventContent:
        """Encrypt for the room; a new session is shared only if every member is ``allowed``.

        The member list checked is the one the key goes to, so nobody who turned up a moment
        ago gets it (a session shared before they came never reaches their devices). Several
        sends into one room at once (e.g. notices about simultaneous requests) all find no
        session; one shares it while the others wait for the lock, and each of those looks
        again once it has the lock: sharing a second time would fail ("already shared").
        """
        try:
            return await self.olm.encrypt_megolm_event(room_id, event_type, content)
        except EncryptionError:
            pass
        async with self._share_locks.setdefault(room_id, asyncio.Lock()):
            try:
                return await self.olm.encrypt_megolm_event(room_id, event_type, content)
            except EncryptionError:
                members = await self.state_store.get_members(
                    room_id, memberships=(Membership.JOIN, Membership.INVITE)
                )
                if strangers(members, allowed):
                    raise RoomNotPrivate(f"not sharing a room key in {room_id}") from None
                await self.olm.share_group_session(room_id, members)
        return await self.olm.encrypt_megolm_event(room_id, event_type, content)
