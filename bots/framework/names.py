"""How people appear in lists: their name, or — once erased — "erased counsellor #N".

Rows that outlive an erasure (notes, groups, centre messages, the audit log) name the
person by the tombstone's reference ``erased:N`` (appservice/db/scrub.py); this is where it
becomes readable again, without the Matrix id.
"""

from __future__ import annotations

import re

from .dispatch import CommandContext
from .services import rows_of

_REFERENCE = re.compile(r"\berased:\d+\b")


class Names:
    """Names for the ids of one reply; each id is looked up once."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx
        self._known: dict[str, str] = {}

    async def of(self, user_id: str) -> str:
        """The person's name; an erased one's label; anything else as it is."""
        if user_id not in self._known:
            person = await rows_of(self.ctx).Person.get(user_id)
            self._known[user_id] = (
                person.name if person is not None else await self._erased(user_id)
            )
        return self._known[user_id]

    async def in_text(self, text: str) -> str:
        """``text`` with every ``erased:N`` reference replaced by its label (Matrix ids stay)."""
        labels = {ref: await self.of(ref) for ref in set(_REFERENCE.findall(text))}
        return _REFERENCE.sub(lambda match: labels[match.group(0)], text)

    async def _erased(self, ref: str) -> str:
        tomb = await rows_of(self.ctx).ErasedPerson.by_ref(ref)
        if tomb is None:
            return ref
        return self.ctx.render("erased_person", role=tomb.role, number=tomb.id)
