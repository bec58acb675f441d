"""A stage note (why a visit moved or was held) that a page can say in its language.

The lane has always written its notes in English ("plate read G1234AB (0.96)", "held: card-printer:
ribbon_out"); an officer reading the visit's history in Bahasa Indonesia saw them as they were. A
:class:`Note` is still that English text (a ``str``: logs, tests and the database's ``note`` column
keep it), and it also carries its message id and values, kept in ``stage_transitions.note_facts``, so
the console words it through the catalogue (values named ``plate``, ``device``, ``fault``, ``stage``
are worded as such by the page)."""

from __future__ import annotations

from typing import Any


class Note(str):
    """``Note.of(N_("plate read %(plate)s (%(confidence)s)"), plate=..., confidence="0.96")``."""

    msgid: str
    values: dict[str, Any]

    @classmethod
    def of(cls, msgid: str, **values: Any) -> Note:
        note = cls(msgid % values if values else msgid)
        note.msgid = msgid
        note.values = values
        return note

    def facts(self) -> dict[str, Any]:
        """As ``stage_transitions.note_facts`` keeps it: the message id and its values (texts, numbers)."""
        return {"id": self.msgid, **{k: v if isinstance(v, int | float) or v is None else str(v)[:120]
                                     for k, v in self.values.items()}}


def note_facts(note: str | None) -> dict[str, Any] | None:
    """The facts of a :class:`Note`; None for a plain text note (or none)."""
    return note.facts() if isinstance(note, Note) else None
