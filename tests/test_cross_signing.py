"""The assistant's cross-signing identity as a person's client sees it on a real Synapse.

Signatures are checked here with ``cryptography``'s Ed25519 over canonical JSON — an
implementation independent of python-olm (which signs) and of pycryptodome (which mautrix
verifies with).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from mautrix.crypto.cross_signing_key import CrossSigningSeeds
from mautrix.types import RoomID

from appservice.app import LotseApp
from appservice.cross_signing import fingerprint, open_seeds, seal_seeds
from appservice.dev.client import PASSWORD, Human, ask
from appservice.sealing import PREFIX, Sealer, SealError
from tests.conftest import Lotse, MakeHuman, join_control_room

# --- pure parts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("", ""),
        ("abc", "abc"),
        ("abcd", "abcd"),
        ("abcdefghi", "abcd efgh i"),
        ("A" * 43, " ".join(["AAAA"] * 10) + " AAA"),
    ],
)
def test_fingerprint_groups_of_four(key: str, shown: str) -> None:
    """A key is shown in groups of four characters, the last group shorter if need be."""
    assert fingerprint(key) == shown


def test_sealed_seeds_open_only_with_their_secret_and_owner() -> None:
    """Seeds come back unchanged; another secret or another user id cannot open them."""
    seeds = CrossSigningSeeds.generate()
    stored = seal_seeds(seeds, Sealer("secret", "purpose"), "@lotse:x")
    assert open_seeds(stored, Sealer("secret", "purpose"), "@lotse:x") == seeds
    for box, owner in ((Sealer("other", "purpose"), "@lotse:x"), (Sealer("secret", "p"), "@x:x")):
        with pytest.raises(SealError):
            open_seeds(stored, box, owner)
    assert base64.b64encode(seeds.master_key).decode() not in stored


# --- against Synapse ---------------------------------------------------------------------------


def canonical(obj: dict[str, Any]) -> bytes:
    """Matrix canonical JSON of a signed object (without ``signatures`` and ``unsigned``)."""
    rest = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    return json.dumps(rest, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def unb64(value: str) -> bytes:
    return base64.b64decode(value + "=" * (-len(value) % 4))


def signed_by(obj: dict[str, Any], user_id: str, key: str) -> bool:
    """Whether ``obj`` carries a valid ed25519 signature of public ``key`` by ``user_id``."""
    signature = obj.get("signatures", {}).get(user_id, {}).get(f"ed25519:{key}")
    if signature is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(unb64(key)).verify(unb64(signature), canonical(obj))
    except InvalidSignature:
        return False
    return True


def only_key(obj: dict[str, Any]) -> str:
    (key,) = obj["keys"].values()
    return str(key)


@dataclass
class Seen:
    """The assistant's identity as a person's client gets it from ``/keys/query``."""

    master: dict[str, Any]
    self_signing: dict[str, Any]
    devices: dict[str, dict[str, Any]]

    @property
    def master_key(self) -> str:
        return only_key(self.master)

    @property
    def self_signing_key(self) -> str:
        return only_key(self.self_signing)

    def cross_signed_by_owner(self, user_id: str, device_id: str) -> bool:
        """The chain a client follows: master key → self-signing key → device."""
        return (
            self.master["usage"] == ["master"]
            and self.self_signing["usage"] == ["self_signing"]
            and signed_by(self.self_signing, user_id, self.master_key)
            and signed_by(self.devices[device_id], user_id, self.self_signing_key)
        )


async def keys_seen_by(human: Human, user_id: str) -> Seen:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{human.client.homeserver}/_matrix/client/v3/keys/query",
            headers={"Authorization": f"Bearer {human.client.access_token}"},
            json={"device_keys": {user_id: []}},
        ) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
    return Seen(
        master=body.get("master_keys", {}).get(user_id, {"keys": {}}),
        self_signing=body.get("self_signing_keys", {}).get(user_id, {"keys": {}}),
        devices=body["device_keys"].get(user_id, {}),
    )


async def as_request(app: LotseApp, method: str, path: str, body: Any = None) -> Any:
    """A client-server request as the assistant, with the appservice's token."""
    async with aiohttp.ClientSession() as http:
        async with http.request(
            method,
            f"{app.cfg.homeserver.address}/_matrix/client/v3/{path}",
            headers={"Authorization": f"Bearer {app.cfg.appservice.as_token}"},
            params={"user_id": app.cfg.assistant_mxid},
            json=body,
        ) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()


@pytest.mark.synapse
async def test_device_is_cross_signed_by_its_owner(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A person's /keys/query shows the assistant's master and self-signing keys; the master
    key signs the self-signing key, which signs the assistant's only device."""
    bot = running.cfg.assistant_mxid
    anna = await make_human("anna", centre="nord", role="client")
    seen = await keys_seen_by(anna, bot)
    assert seen.master_key == running.device.master_key
    assert list(seen.devices) == [running.device.device_id]
    assert seen.cross_signed_by_owner(bot, running.device.device_id)
    # mautrix also signs the master key with the device that made it, as Element does.
    assert seen.master["signatures"][bot]


@pytest.mark.synapse
async def test_identity_survives_a_restart(make_human: MakeHuman, lotse: Lotse) -> None:
    """After a restart the same master and self-signing keys stand and the device stays
    signed; the private keys in the database are sealed, not readable."""
    app = lotse.app if lotse.app is not None and lotse.app.started else await lotse.start()
    bot = app.cfg.assistant_mxid
    ben = await make_human("ben", centre="nord", role="counsellor")
    before = await keys_seen_by(ben, bot)
    app = await lotse.restart()
    after = await keys_seen_by(ben, bot)
    assert after.master_key == before.master_key == app.device.master_key
    assert after.self_signing_key == before.self_signing_key
    assert after.cross_signed_by_owner(bot, app.device.device_id)
    stored = await app.db.get_state("assistant_cross_signing_seeds")
    assert stored is not None and stored.startswith(PREFIX) and "master" not in stored


@pytest.mark.synapse
async def test_recreated_device_is_signed_again(make_human: MakeHuman, lotse: Lotse) -> None:
    """A device deleted on the server is re-created at start, signed by the same identity,
    and people talk to it encrypted as before."""
    app = lotse.app if lotse.app is not None and lotse.app.started else await lotse.start()
    bot = app.cfg.assistant_mxid
    cleo = await make_human("cleo", centre="nord", role="client")
    room_id = await cleo.service_room(bot)
    await cleo.next_notice(room_id, bot, 0)
    before = await keys_seen_by(cleo, bot)
    old_device = app.device.device_id
    await lotse.stop()
    await as_request(app, "DELETE", f"devices/{old_device}")
    app = await lotse.start()
    assert app.device.device_id != old_device
    after = await keys_seen_by(cleo, bot)
    assert list(after.devices) == [app.device.device_id]
    assert after.master_key == before.master_key
    assert after.cross_signed_by_owner(bot, app.device.device_id)
    reply = await ask(cleo, room_id, bot, "hilfe")
    assert reply.encrypted


def _foreign_key(user_id: str, usage: str, signer: Ed25519PrivateKey | None) -> tuple[Any, ...]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    public = base64.b64encode(raw).decode().rstrip("=")
    obj: dict[str, Any] = {
        "user_id": user_id,
        "usage": [usage],
        "keys": {f"ed25519:{public}": public},
    }
    if signer is not None:
        signer_raw = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        signer_pub = base64.b64encode(signer_raw).decode().rstrip("=")
        sig = base64.b64encode(signer.sign(canonical(obj))).decode().rstrip("=")
        obj["signatures"] = {user_id: {f"ed25519:{signer_pub}": sig}}
    return private, public, obj


@pytest.mark.synapse
async def test_foreign_identity_on_the_server_is_replaced_at_start(
    make_human: MakeHuman, lotse: Lotse
) -> None:
    """If the server holds other cross-signing keys for the assistant (someone with the
    as_token replaced them), the next start publishes an identity of its own again — without
    user-interactive auth, which Synapse waives for appservice users — and signs the device.

    It is a fresh identity: Synapse refuses a key it once held (seen here: HTTP 500), so the
    earlier one cannot come back."""
    app = lotse.app if lotse.app is not None and lotse.app.started else await lotse.start()
    bot = app.cfg.assistant_mxid
    earlier = app.device.master_key
    dora = await make_human("dora", centre="nord", role="client")
    master, master_pub, master_obj = _foreign_key(bot, "master", None)
    _, _, self_obj = _foreign_key(bot, "self_signing", master)
    _, _, user_obj = _foreign_key(bot, "user_signing", master)
    await lotse.stop()
    await as_request(
        app,
        "POST",
        "keys/device_signing/upload",
        {"master_key": master_obj, "self_signing_key": self_obj, "user_signing_key": user_obj},
    )
    assert (await keys_seen_by(dora, bot)).master_key == master_pub
    app = await lotse.start()
    seen = await keys_seen_by(dora, bot)
    assert seen.master_key == app.device.master_key
    assert seen.master_key not in (master_pub, earlier)
    assert seen.cross_signed_by_owner(bot, app.device.device_id)
    # The new identity is the one kept: the next start finds it on the server unchanged.
    app = await lotse.restart()
    assert app.device.master_key == seen.master_key


async def topic_seen_by(human: Human, room_id: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{human.client.homeserver}/_matrix/client/v3/rooms/{room_id}/state/m.room.topic",
            headers={"Authorization": f"Bearer {human.client.access_token}"},
        ) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["topic"])


@pytest.mark.synapse
async def test_help_and_centre_room_topics_show_the_identity(
    make_human: MakeHuman, lotse: Lotse
) -> None:
    """`hilfe` and the topics of the admin control room and the team room show the master
    key a person's client gets from the server, in groups of four; a topic changed in the
    meantime is set right at the next start."""
    app = lotse.app if lotse.app is not None and lotse.app.started else await lotse.start()
    bot = app.cfg.assistant_mxid
    admin = await make_human("adele", centre="nord", role="admin")
    admin_room = await join_control_room(app, admin)
    staff_room = await app.rows.CentreRoom.get("nord", "staff")
    assert staff_room is not None
    await admin.client.join(staff_room)
    shown = fingerprint((await keys_seen_by(admin, bot)).master_key)
    assert len(shown.split(" ")) == 11  # 43 base64 characters
    assert shown in (await ask(admin, admin_room, bot, "hilfe")).body
    for room in (admin_room, staff_room):
        assert shown in await topic_seen_by(admin, room)
    await app.assistant_intent.set_room_topic(RoomID(admin_room), "alt")
    await app.steward_intent.set_room_topic(RoomID(staff_room), "alt")
    await lotse.restart()
    for room in (admin_room, staff_room):
        assert shown in await topic_seen_by(admin, room)


JS = Path(__file__).parent / "js"


async def _run(*command: str, timeout: float) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=JS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "", f"timed out after {timeout:.0f} s"
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(scope="module")
async def element_crypto() -> Path:
    """matrix-js-sdk with its Rust crypto (Element's stack), installed from npm on first use
    (``npm ci`` in tests/js, pinned by its lock file); skipped with the reason only where Node
    or npm cannot be had — never in CI."""
    problem = None
    if shutil.which("node") is None or shutil.which("npm") is None:
        problem = "Node.js and npm are needed (apt-get install nodejs npm)"
    elif not (JS / "node_modules" / "matrix-js-sdk").is_dir():
        code, _, err = await _run("npm", "ci", "--no-audit", "--no-fund", timeout=600)
        if code != 0:
            problem = f"npm ci in {JS} failed: {err.strip()[-300:]}"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Element's crypto stack: {problem}")
        pytest.skip(problem)
    return JS / "device_status.mjs"


@pytest.mark.synapse
async def test_element_crypto_sees_the_device_signed_by_its_owner(
    make_human: MakeHuman, running: LotseApp, element_crypto: Path
) -> None:
    """Element's own crypto stack (matrix-js-sdk, Rust crypto), logged in as a client who
    shares a service room with the assistant, reports the assistant's device as signed by
    its owner — the state in which Element shows no warning on its messages. The identity
    itself is not verified by the client (that would take an interactive verification)."""
    bot = running.cfg.assistant_mxid
    emil = await make_human("emil", centre="nord", role="client")
    room_id = await emil.service_room(bot)
    await emil.next_notice(room_id, bot, 0)
    code, out, err = await _run(
        "node",
        str(element_crypto),
        str(emil.client.homeserver),
        emil.user_id,
        PASSWORD,
        bot,
        running.device.device_id,
        timeout=120,
    )
    assert code == 0, err[-2000:]
    verdict = json.loads(out.strip().splitlines()[-1])
    assert verdict == {
        "known": True,
        "signedByOwner": True,
        "crossSigningVerified": False,
        "identityVerified": False,
    }
