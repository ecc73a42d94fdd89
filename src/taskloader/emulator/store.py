"""Emulator state: templates, contacts, idempotency tokens and counters.

State lives in memory. With a state file, every change is also written through to SQLite (one
row per record, WAL) and read back at start-up, so templates and contacts survive a restart.
Counters (``/_emulator/stats``) start from zero at each start.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskloader.emulator.records import ContactRecord, TemplateRecord
from taskloader.errors import UsageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, key)
)
"""


class Persistence:
    """Write-through SQLite storage of templates and contacts (tokens are rebuilt from contacts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open emulator state file {path}: {exc}") from exc

    def put(self, kind: str, key: str, data: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO records (kind, key, data) VALUES (?, ?, ?)",
            (kind, key, json.dumps(data)),
        )

    def delete(self, kind: str, key: str) -> None:
        self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))

    def load(self, kind: str) -> list[Any]:
        rows = self._db.execute("SELECT data FROM records WHERE kind = ?", (kind,))
        return [json.loads(data) for (data,) in rows]

    def clear(self) -> None:
        self._db.execute("DELETE FROM records")

    def close(self) -> None:
        self._db.close()


class State:
    """All mutable emulator state. Not thread-safe: the event loop is its only user."""

    def __init__(
        self,
        persistence: Persistence | None = None,
        deadline: Callable[[ContactRecord], float | None] = lambda c: None,
    ) -> None:
        self._persistence = persistence
        #: When an active contact ends by itself (epoch seconds), or None; set by the backend.
        self.deadline = deadline
        self.templates: dict[str, dict[str, TemplateRecord]] = defaultdict(dict)
        self.contacts: dict[str, ContactRecord] = {}
        #: Active contacts per instance (id -> contact).
        self.active: dict[str, dict[str, ContactRecord]] = defaultdict(dict)
        #: (deadline, contact id) of active contacts that end by themselves, soonest first.
        self._deadlines: list[tuple[float, str]] = []
        #: (InstanceId, ClientToken) -> (ContactId, created epoch seconds, request digest)
        self.tokens: dict[tuple[str, str], tuple[str, float, str | None]] = {}
        self.token_uses: Counter[tuple[str, str]] = Counter()
        self.chain_counts: Counter[str] = Counter()
        self.template_seq = 0
        self.reset_counters()
        if persistence is not None:
            self._load(persistence)

    def reset_counters(self) -> None:
        self.requests: dict[str, Counter[str]] = defaultdict(Counter)
        self.requests_by_access_key: Counter[str] = Counter()
        self.contacts_created = 0
        self.idempotent_replays = 0
        self.throttled = 0
        self.faults: Counter[str] = Counter()
        self.duplicate_tokens = 0

    def reset(self) -> None:
        """Forget every template, contact, token and counter."""
        self.templates.clear()
        self.contacts.clear()
        self.active.clear()
        self._deadlines.clear()
        self.tokens.clear()
        self.token_uses.clear()
        self.chain_counts.clear()
        self.template_seq = 0
        self.reset_counters()
        if self._persistence is not None:
            self._persistence.clear()

    def close(self) -> None:
        if self._persistence is not None:
            self._persistence.close()

    # -- templates -------------------------------------------------------------------------

    def save_template(self, record: TemplateRecord) -> None:
        self.templates[record.instance_id][record.id] = record
        self.template_seq = max(self.template_seq, record.seq)
        if self._persistence is not None:
            self._persistence.put("template", record.id, record.to_json())

    def delete_template(self, record: TemplateRecord) -> None:
        del self.templates[record.instance_id][record.id]
        if self._persistence is not None:
            self._persistence.delete("template", record.id)

    # -- contacts --------------------------------------------------------------------------

    def add_contact(self, contact: ContactRecord) -> None:
        self.contacts_created += 1
        if self._index(contact) == 2:
            self.duplicate_tokens += 1
        self.save_contact(contact)

    def _index(self, contact: ContactRecord) -> int:
        """File ``contact`` in the look-up tables; how many contacts its ClientToken has made."""
        self.contacts[contact.id] = contact
        if contact.active:
            self.active[contact.instance_id][contact.id] = contact
            self.schedule(contact)
        if contact.previous_contact_id:
            self.chain_counts[contact.previous_contact_id] += 1
        if contact.client_token is None:
            return 0
        key = (contact.instance_id, contact.client_token)
        self.tokens[key] = (contact.id, contact.created, contact.request_digest)
        self.token_uses[key] += 1
        return self.token_uses[key]

    def save_contact(self, contact: ContactRecord) -> None:
        if self._persistence is not None:
            self._persistence.put("contact", contact.id, contact.to_json())

    def schedule(self, contact: ContactRecord) -> None:
        """(Re)compute when ``contact`` ends by itself; an earlier entry of it becomes stale."""
        deadline = self.deadline(contact)
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, contact.id))

    def reschedule(self) -> None:
        """Every active contact's deadline again (the lifetime or the time scale changed)."""
        self._deadlines = [
            (d, c.id)
            for queue in self.active.values()
            for c in queue.values()
            if (d := self.deadline(c)) is not None
        ]
        heapq.heapify(self._deadlines)

    def expire(self, now: float) -> None:
        """End the tasks whose deadline has passed, at their deadline."""
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            deadline, contact_id = heapq.heappop(heap)
            contact = self.contacts.get(contact_id)
            if contact is None or not contact.active or self.deadline(contact) != deadline:
                continue  # ended already, or a stale entry of a rescheduled contact
            contact.disconnected = deadline
            del self.active[contact.instance_id][contact.id]
            self.save_contact(contact)

    def complete_all(self, now: float) -> int:
        """End every active task; returns how many were ended."""
        ended = 0
        for queue in self.active.values():
            for contact in queue.values():
                contact.disconnected = now
                self.save_contact(contact)
                ended += 1
            queue.clear()
        self._deadlines.clear()
        return ended

    def end(self, contact: ContactRecord, now: float) -> None:
        """End one active contact now (StopContact): it leaves the active-task count."""
        contact.disconnected = now
        self.active[contact.instance_id].pop(contact.id, None)
        self.save_contact(contact)

    def forget(self, contact_id: str) -> bool:
        """Delete a contact as if it never existed (a test's lost task); False if unknown."""
        contact = self.contacts.pop(contact_id, None)
        if contact is None:
            return False
        self.active[contact.instance_id].pop(contact_id, None)
        if contact.client_token is not None:
            key = (contact.instance_id, contact.client_token)
            self.tokens.pop(key, None)
        if self._persistence is not None:
            self._persistence.delete("contact", contact_id)
        return True

    def active_count(self, instance_id: str) -> int:
        return len(self.active.get(instance_id, ()))

    # -- loading ---------------------------------------------------------------------------

    def _load(self, persistence: Persistence) -> None:
        for data in persistence.load("template"):
            record = TemplateRecord.from_json(data)
            self.templates[record.instance_id][record.id] = record
            self.template_seq = max(self.template_seq, record.seq)
        contacts = sorted(
            (ContactRecord.from_json(d) for d in persistence.load("contact")),
            key=lambda c: c.created,
        )
        for contact in contacts:
            self._index(contact)
        self.duplicate_tokens = sum(1 for n in self.token_uses.values() if n > 1)
