"""Fifty clients ask at once: every request is confirmed and the on-duty counsellor hears of
each (issue 9, point 14)."""

from __future__ import annotations

import asyncio
import re

import pytest

from appservice.app import LotseApp
from appservice.dev.client import Human, ask
from tests.conftest import MakeHuman
from tests.test_exactly_once import _history

pytestmark = pytest.mark.synapse

CLIENTS = 50
# Generous: fifty encrypted dialogues share two cores with the Synapse they talk to.
TIMEOUT = 240


async def _own_room(human: Human, bot: str) -> str:
    """The client's service room, waited for as long as fifty at once may take."""
    room_id = await human.service_room(bot, TIMEOUT)
    await human.next_notice(room_id, bot, 0, TIMEOUT)  # the welcome
    return room_id


async def _intake(client: Human, room_id: str, bot: str) -> str:
    """`anfrage`, then `1` (chat) for the one question; the answer to that `1`."""
    question = await ask(client, room_id, bot, "anfrage", timeout=TIMEOUT)
    assert "1." in question.body and "2." in question.body, question.body
    return (await ask(client, room_id, bot, "1", timeout=TIMEOUT)).body


async def test_fifty_simultaneous_intakes_are_confirmed_and_announced(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Centre "ost" has no automatic assignment and one counsellor on duty, invited to a fresh
    service room (as `counsellor new` leaves them) that has no room key yet. Fifty clients ask
    for counselling at the same moment: each is confirmed with their request number (never
    "Den Befehl „1“ habe ich nicht verstanden"), fifty requests wait in the pool, and the
    counsellor reads fifty "new request" notices once they join.

    The fifty notices race for the first room key of one room: a sender that waited for the
    key's lock must use the key shared meanwhile instead of sharing again."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("bereitschaft", centre="ost", role="counsellor")
    person = await running.rows.Person.get(counsellor.user_id)
    assert person is not None
    assert running.assistant.service_rooms is not None
    counsellor_room = await running.assistant.service_rooms.create_for(person)
    clients = await asyncio.gather(
        *(make_human(f"ansturm{i}", centre="ost") for i in range(CLIENTS))
    )
    rooms = await asyncio.gather(*(_own_room(c, bot) for c in clients))

    answers = await asyncio.gather(
        *(_intake(c, r, bot) for c, r in zip(clients, rooms, strict=True))
    )

    numbers = []
    for answer in answers:
        found = re.search(r"Ihre Anfrage ist eingegangen \(Nr\. (\d+)\)", answer)
        assert found, answer
        numbers.append(int(found.group(1)))
    assert len(set(numbers)) == CLIENTS
    for client, number in zip(clients, numbers, strict=True):
        request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
        assert request is not None and request.id == number
        assert request.status == "new" and request.counsellor_id is None
    # Invited to every pool room too: join the service room by its id.
    await counsellor.client.join(counsellor_room)

    async def announced() -> list[int] | None:
        """The request numbers announced to the counsellor, once every notice is readable."""
        await counsellor.sync()  # room keys reach the counsellor's device by to-device
        history = await _history(counsellor, counsellor_room, bot)
        if any(e.kind != "notice" for e in history):
            return None
        found = (re.search(r"Neue Anfrage Nr\. (\d+)", e.body) for e in history)
        return sorted(int(m.group(1)) for m in found if m)

    for _ in range(30):
        if (told := await announced()) == sorted(numbers):
            break
        await asyncio.sleep(1)
    assert told == sorted(numbers)
