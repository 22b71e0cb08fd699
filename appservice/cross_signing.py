"""The assistant's cross-signing identity, so Element shows its device as verified by its owner.

Three ed25519 keys (Matrix cross-signing): the **master** key is the assistant's identity,
the **self-signing** key signs its device, the **user-signing** key would sign people it
verified. They are created once; their 32-byte seeds are kept sealed (AES-GCM under the
``encryption.sealing_key``, see ``sealing.py``) in Lotse's ``bot_state`` table — the same
place that already holds the device's olm account, so whoever could misuse the master key
with both secrets could already impersonate the device. A database backup plus both keys
restores both.

At every start (``ensure``): the public keys on the homeserver are compared with ours and
published again if they differ (Synapse lets an appservice replace them without
user-interactive auth, MSC4190); then the current device is signed by the self-signing key
unless it already carries a valid signature — so a device re-created after it was deleted
on the server is signed again. mautrix builds and uploads the keys; what it lacks (checking
the device is really ours before signing it, and the upload's ``failures``) is here.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from mautrix.api import Method, Path
from mautrix.crypto import OlmMachine
from mautrix.crypto.cross_signing_key import CrossSigningPrivateKeys, CrossSigningSeeds
from mautrix.crypto.signature import sign_olm, verify_signature_json
from mautrix.errors import MatrixError
from mautrix.types import CrossSigner, SigningKey, UserID

from .db import LotseDatabase
from .sealing import Sealer, SealError

__all__ = ["SEAL_PURPOSE", "CrossSigning", "CrossSigningError", "PublishedKeys", "fingerprint"]

log = logging.getLogger("lotse.cross_signing")

STATE_KEY = "assistant_cross_signing_seeds"
SEAL_PURPOSE = "assistant cross-signing keys"
_USAGES = ("master", "self_signing", "user_signing")


class CrossSigningError(RuntimeError):
    """The identity cannot be kept: its sealed keys do not open, or the server refused."""


def fingerprint(key: str) -> str:
    """A public key as people compare it: unpadded base64 in groups of four, like Element."""
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def seal_seeds(seeds: CrossSigningSeeds, box: Sealer, user_id: str) -> str:
    plain = json.dumps(
        {usage: base64.b64encode(getattr(seeds, f"{usage}_key")).decode() for usage in _USAGES}
    )
    return box.seal(plain, user_id)


def open_seeds(stored: str, box: Sealer, user_id: str) -> CrossSigningSeeds:
    raw = json.loads(box.open(stored, user_id))
    return CrossSigningSeeds(**{f"{usage}_key": base64.b64decode(raw[usage]) for usage in _USAGES})


@dataclass(frozen=True)
class PublishedKeys:
    """What ``/keys/query`` says about the assistant's own cross-signing keys and device."""

    master: str | None
    self_signing: str | None
    user_signing: str | None
    device: dict[str, Any] | None

    @classmethod
    def from_query(cls, resp: dict[str, Any], user_id: str, device_id: str) -> PublishedKeys:
        def key(field: str) -> str | None:
            keys = resp.get(field, {}).get(user_id, {}).get("keys", {})
            return next(iter(keys.values()), None)

        return cls(
            master=key("master_keys"),
            self_signing=key("self_signing_keys"),
            user_signing=key("user_signing_keys"),
            device=resp.get("device_keys", {}).get(user_id, {}).get(device_id),
        )

    def matches(self, keys: CrossSigningPrivateKeys) -> bool:
        public = keys.public_keys
        return (self.master, self.self_signing, self.user_signing) == (
            public.master_key,
            public.self_signing_key,
            public.user_signing_key,
        )

    def device_signed_by(self, user_id: str, self_signing_key: str) -> bool:
        """True when the device carries a valid signature of ``self_signing_key``."""
        if self.device is None:
            return False
        return verify_signature_json(
            self.device,  # type: ignore[arg-type]
            UserID(user_id),
            self_signing_key,
            SigningKey(self_signing_key),
        )


class CrossSigning:
    """Keeps the assistant's identity and signs its current device with it."""

    def __init__(self, olm: OlmMachine, db: LotseDatabase, box: Sealer) -> None:
        self.olm = olm
        self.db = db
        self.box = box

    @property
    def user_id(self) -> UserID:
        return self.olm.client.mxid

    async def ensure(self) -> str:
        """Create the keys once, (re)publish them if needed, sign the device; the master key."""
        keys = (await self._seeds()).to_keys()
        published = await self._query()
        if not published.matches(keys):
            keys = await self._publish(keys, foreign=published.master is not None)
            published = await self._query()
            if not published.matches(keys):
                raise CrossSigningError("the homeserver did not take the cross-signing keys")
        else:
            self.olm._cross_signing_private_keys = keys
            self.olm._cross_signing_public_keys = keys.public_keys
        ssk = keys.self_signing_key.public_key
        if not published.device_signed_by(self.user_id, ssk):
            await self._sign_device(published, keys)
            log.info("signed assistant device %s with its self-signing key", self.device_id)
        return keys.master_key.public_key

    async def _publish(
        self, keys: CrossSigningPrivateKeys, foreign: bool
    ) -> CrossSigningPrivateKeys:
        """Upload our keys (mautrix builds them and their signatures); the keys now published.

        Synapse never takes back a key it once held (it keeps each as a hidden device id and
        answers 500), so when another identity replaced ours on the server, ours cannot
        return: a fresh identity is made instead, and people's clients say it changed.
        """
        if foreign:
            log.warning("the homeserver shows another cross-signing identity for %s", self.user_id)
        try:
            await self.olm._publish_cross_signing_keys(keys)
            return keys
        except MatrixError as e:
            if not foreign:
                raise
            log.warning(
                "the homeserver refuses the kept identity of %s (%s); making a new one, so "
                "people's clients will say that the assistant's identity changed",
                self.user_id,
                e,
            )
        fresh = (await self._seeds(renew=True)).to_keys()
        await self.olm._publish_cross_signing_keys(fresh)
        return fresh

    @property
    def device_id(self) -> str:
        return str(self.olm.client.device_id)

    async def _seeds(self, renew: bool = False) -> CrossSigningSeeds:
        stored = None if renew else await self.db.get_state(STATE_KEY)
        if stored is not None:
            try:
                return open_seeds(stored, self.box, self.user_id)
            except SealError as e:
                # Never replace the identity silently: people who verified it would be warned.
                raise CrossSigningError(
                    "the assistant's cross-signing keys cannot be opened; was "
                    "encryption.sealing_key changed without `lotse rotate-key`? Put the old "
                    "one back, or run `lotse rotate-key` with it as the old key."
                ) from e
        seeds = CrossSigningSeeds.generate()
        # Kept before publishing: a crash in between publishes the same keys at the next start.
        await self.db.set_state(STATE_KEY, seal_seeds(seeds, self.box, self.user_id))
        log.info("created the cross-signing keys of %s", self.user_id)
        return seeds

    async def _query(self) -> PublishedKeys:
        resp = await self.olm.client.api.request(
            Method.POST, Path.v3.keys.query, {"device_keys": {self.user_id: []}}
        )
        return PublishedKeys.from_query(resp, self.user_id, self.device_id)

    async def _sign_device(self, published: PublishedKeys, keys: CrossSigningPrivateKeys) -> None:
        device = published.device
        account = self.olm.account
        assert account is not None, "the olm account is loaded before the identity"
        # Sign only the keys our own olm account holds: the server could show other ones.
        if (
            device is None
            or device.get("keys", {}).get(f"ed25519:{self.device_id}") != account.signing_key
            or device.get("keys", {}).get(f"curve25519:{self.device_id}") != account.identity_key
        ):
            raise CrossSigningError(f"device {self.device_id} on the server is not ours")
        ssk = keys.self_signing_key
        signature = sign_olm(dict(device), ssk)
        signed = {k: v for k, v in device.items() if k not in ("signatures", "unsigned")}
        signed["signatures"] = {self.user_id: {f"ed25519:{ssk.public_key}": signature}}
        resp = await self.olm.client.api.request(
            Method.POST,
            Path.v3.keys.signatures.upload,
            {self.user_id: {self.device_id: signed}},
        )
        if resp.get("failures"):
            raise CrossSigningError(f"signing device {self.device_id}: {resp['failures']}")
        await self.olm.crypto_store.put_signature(
            CrossSigner(self.user_id, account.signing_key),
            CrossSigner(self.user_id, ssk.public_key),
            signature,
        )
