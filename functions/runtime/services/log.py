"""An append-only log on an object store: what session history and long-term memory are made of.

Objects under a log prefix::

    snapshot          header line (JSON) + the bodies of segments 1..K, one per line
    seg/{seq}         one append: {"seq", "inc", "at", "records": [...]}, written create-only

(The snapshot may live at another key its owner names: session history keeps it at the
session's index entry, so that one object lists the session and holds it.)

Why this shape
--------------
* **No read-modify-write of a shared object on the append path.** An append is one
  create-only put of the next sequence number. Two writers that pick the same number cannot
  both succeed; the loser learns the real tail (1 GET of the snapshot + 1 LIST after its
  number) and takes the next free one. So N concurrent appends give N segments, none lost.
* **Sequence numbers are dense.** A writer only ever tries ``n`` when it has seen ``n - 1``
  exist (or n == 1), and nothing deletes a segment while its log lives. So "the segments
  after K" is exactly ``list(start_after=seg/K)`` and a reader never has to guess at holes.
* **Reads cost a bounded number of requests.** A reader GETs the snapshot (it says K), LISTs
  after K, and GETs the few tail segments: ``2 + tail`` requests. Writers (and readers) fold
  the tail into a new snapshot once it reaches ``compact_after`` segments, so the tail stays
  short however long the log grows. A log that does not exist costs one GET.
* **Compaction is a compare-and-set, and losing it is harmless.** The new snapshot is put
  with ``if_match`` = the etag of the snapshot it extends, and it only ever covers more
  segments (K grows). A compactor that loses the race re-reads the winner's snapshot and gives
  up; nothing it knew is lost because every segment stays in the store.
* **Compaction never deletes segments.** This is the race that matters: suppose a compactor
  folded 1..K into the snapshot and then deleted seg/1..seg/K. A writer holding a stale view
  (it last saw seq 3) tries seg/4 create-only -- and now *succeeds*, because the key is free
  again. Readers only LIST after K, so that message would be invisible forever: a silent lost
  write. Keeping the segment keys occupied is what makes create-only a reliable "this number
  is taken". The price is storing each record twice (segment + snapshot); the snapshot is what
  readers pay for, and a store lifecycle rule or an offline sweep can reclaim the rest.
* **Holes are plugged, not skipped.** Density can only break across a delete-and-recreate of
  the same log (a new log may start while the old segments are still being deleted). When a
  compactor finds a segment it expected missing, it writes an empty "plug" create-only at that
  number before folding past it: if a late writer got there first the plug fails and the
  compactor reads the real segment instead. Either way no write can land below K afterwards.
* **Incarnations.** Each log has a random ``inc`` in its header and every segment carries
  it. Deleting a log removes the snapshot first; segments written by a writer still holding
  the deleted log's view, or left over from an interrupted delete, carry the old ``inc`` and
  are ignored by the next log created at the same prefix.

Commits: one writer's records written into the snapshot itself
---------------------------------------------------------------
A writer that is the only one of its kind on a log (a turn, which holds its session's lease:
``services/lock.py``) may skip the segment: :meth:`SegmentLog.commit` writes the snapshot
anew by compare-and-set, holding the tail this writer knows folded in and then its records
as one more line (an *entry*: a segment body without ``seq``); :meth:`SegmentLog.create` can
start a log holding its first entry. So a turn's read is ``snapshot + LIST`` (its own
earlier turns are in the snapshot, not in tail segments to fetch one by one) and its write
is that one request.

* An entry takes no sequence number, so it can never hide a segment: segments keep their
  numbers and create-only puts keep meaning "this number is taken". The entry is ordered
  after every segment the writer folded in, and before any segment it did not know of
  (one written while it ran): those were concurrent with it, and stay in the log after it.
* A lost compare-and-set (a compaction by an appender, or a commit of a turn that took over
  an expired lease) is re-read and retried on the new snapshot, so it never drops what the
  winner wrote. A snapshot that already ends with the entry is this writer's own put,
  applied before a retried attempt of it failed: it is not written twice.
* Entries are lines like segment bodies: a snapshot stays readable by code that knows only
  segments.
* The price is writing the snapshot whole on every commit, as a reader reads it whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..retry import RetryPolicy
from ..storage.base import ObjectStore, PreconditionFailed, StoreError
from .layout import log_segment_key, log_segments_prefix, log_snapshot_key, parse_seq

log = logging.getLogger("agentscope_faas.services")

T = TypeVar("T")

FORMAT_VERSION = 1
DEFAULT_COMPACT_AFTER = 8  # tail segments; a read then costs at most 2 + 7 requests
MAX_APPEND_ATTEMPTS = 64
READ_CONCURRENCY = 16
# after a lost race for a sequence number (or a round): full-jitter backoff, so that the
# writers that lost together do not all go for the same next number at once (fifty
# writers on one session, taking the next number in lockstep, could lose 64 times)
CONTENTION = RetryPolicy(attempts=MAX_APPEND_ATTEMPTS, base_s=0.002, cap_s=0.2)


async def after_lost_race(attempt: int) -> None:
    """Wait before trying again after losing race number ``attempt`` (0-based)."""
    await asyncio.sleep(CONTENTION.backoff(attempt))


class LogNotFound(LookupError):
    """The log does not exist (or was deleted and re-created under the writer)."""


class NotALog(LookupError):
    """The object at the snapshot key is not a log's snapshot (its owner keeps other things
    there: ``history.py``'s index markers of before)."""


class LogContention(StoreError):
    """A write kept losing the race for a sequence number (or a state round) to a crowd of
    writers on one session: HTTP 503 with ``Retry-After`` (seconds), as the crowd passes."""

    code = "contention"
    expose = True

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


# one encoder for every call: json.dumps with these options builds a new one each time
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def dumps(obj: Any) -> bytes:
    """Compact JSON: one line, so a snapshot can hold one segment body per line.

    Strict JSON: ``NaN`` and the infinities raise ``ValueError`` rather than being stored
    as literals no other JSON reader takes (HTTP bodies never bring them: ``json_numbers``).
    """
    return _encode(obj).encode("utf-8")


async def gather_bounded(aws: Iterable[Awaitable[T]], limit: int = READ_CONCURRENCY) -> list[T]:
    """Run awaitables concurrently, at most ``limit`` at a time, results in order."""
    sem = asyncio.Semaphore(limit)

    async def one(aw: Awaitable[T]) -> T:
        async with sem:
            return await aw

    return list(await asyncio.gather(*(one(aw) for aw in aws)))


@dataclass
class LogView:
    """What one reader/writer knows about a log; the writer's handle for appends.

    ``tail`` maps sequence numbers above ``upto`` to their raw segment bodies (``b""`` for a
    segment of another incarnation, which is skipped). Numbers between ``upto`` and ``last``
    missing from ``tail`` exist in the store but were never read by this view.
    """

    prefix: str
    inc: str
    created_at: float
    updated_at: float
    meta: dict[str, Any]
    upto: int
    etag: str
    base: bytes
    last: int
    tail: dict[int, bytes] = field(default_factory=dict)

    def header(self, upto: int, updated_at: float) -> bytes:
        return dumps(
            {
                "v": FORMAT_VERSION,
                "inc": self.inc,
                "created_at": self.created_at,
                "updated_at": updated_at,
                "upto": upto,
                "meta": self.meta,
            }
        )

    def adopt(self, data: bytes, etag: str) -> bool:
        """Take a newer snapshot of the same incarnation; False when it is another log."""
        head, base = _split(data)
        if head.get("inc") != self.inc:
            return False
        upto = int(head["upto"])
        if upto >= self.upto:
            self.upto, self.etag, self.base = upto, etag, base
            self.updated_at = max(self.updated_at, float(head["updated_at"]))
            self.last = max(self.last, upto)
            self.tail = {s: b for s, b in self.tail.items() if s > upto}
        return True


def _entry(inc: str, at: float, records: list[Any]) -> bytes:
    """A snapshot line holding records that no segment holds (a commit)."""
    return dumps({"inc": inc, "at": at, "records": records})


def _split(data: bytes) -> tuple[dict[str, Any], bytes]:
    head, _, base = data.partition(b"\n")
    return json.loads(head), base


def _records_of(base: bytes) -> list[Any]:
    out: list[Any] = []
    if base:
        for line in base.split(b"\n"):
            out.extend(json.loads(line)["records"])
    return out


class SegmentLog:
    """One log at ``prefix`` (ends with '/'); stateless apart from the views it hands out."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        *,
        compact_after: int = DEFAULT_COMPACT_AFTER,
        snapshot_key: str | None = None,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.compact_after = max(1, compact_after)
        # ``{prefix}snapshot`` unless the owner keeps it elsewhere (session history keeps it
        # at the session's index entry: one object both lists the session and holds it)
        self.snapshot_key = log_snapshot_key(prefix) if snapshot_key is None else snapshot_key
        self.segments_prefix = log_segments_prefix(prefix)

    def _seg(self, seq: int) -> str:
        return log_segment_key(self.prefix, seq)

    # --- create / load / delete --------------------------------------------------------

    async def create(
        self,
        meta: dict[str, Any] | None = None,
        records: list[Any] | None = None,
        *,
        created_at: float | None = None,
    ) -> LogView | None:
        """Start a log (1 create-only put), holding ``records`` as its first entry when
        given (a commit, see the module docstring); None when one already exists."""
        now = time.time()
        start = now if created_at is None else min(created_at, now)
        view = LogView(
            self.prefix, secrets.token_hex(8), start, now, dict(meta or {}), 0, "", b"", 0
        )
        if records:
            view.base = _entry(view.inc, now, records)
        data = view.header(0, now)
        if view.base:
            data += b"\n" + view.base
        try:
            view.etag = await self.store.put(self.snapshot_key, data, if_none_match=True)
        except PreconditionFailed:
            if not records:
                return None
            # our own put, applied before a retried attempt of it failed? (inc is ours alone)
            got = await self.store.get(self.snapshot_key)
            if got is None or _split(got[0])[0].get("inc") != view.inc:
                return None
            view.etag = got[1]
        return view

    async def load(self, *, compact: bool = True) -> tuple[LogView, list[Any]] | None:
        """The whole log: snapshot + LIST after it + tail segments (2 + tail requests).

        A long tail is compacted (one more put) unless ``compact`` is off: a writer about to
        :meth:`commit` folds it in with its own write anyway."""
        got = await self.store.get(self.snapshot_key)
        if got is None:
            return None
        data, etag = got
        head, base = _split(data)
        if "inc" not in head or "upto" not in head:
            raise NotALog(self.snapshot_key)
        upto = int(head["upto"])
        view = LogView(
            self.prefix,
            head["inc"],
            float(head["created_at"]),
            float(head["updated_at"]),
            dict(head.get("meta") or {}),
            upto,
            etag,
            base,
            upto,
        )
        records = _records_of(base)
        keys = await self.store.list(self.segments_prefix, start_after=self._seg(upto))
        numbered = [(s, k) for k in keys if (s := parse_seq(k, self.segments_prefix)) is not None]
        bodies = await gather_bounded(self.store.get(k) for _, k in numbered)
        for (seq, _), body in zip(numbered, bodies, strict=True):
            view.last = max(view.last, seq)
            if body is None:  # deleted between LIST and GET: the log is being deleted
                continue
            seg = json.loads(body[0])
            if seg.get("inc") != view.inc:
                view.tail[seq] = b""
                continue
            view.tail[seq] = body[0]
            records.extend(seg["records"])
            view.updated_at = max(view.updated_at, float(seg["at"]))
        if compact and view.last - view.upto >= self.compact_after:
            await self.compact(view)
        return view, records

    async def delete(self) -> bool:
        """Remove the log; True when it existed.

        The segments are listed *before* the snapshot goes: once the snapshot is gone a new
        log may start at this prefix, and its segments must never be in our delete list.
        """
        keys = await self.store.list(self.segments_prefix)
        existed = await self.store.get(self.snapshot_key) is not None
        await self.store.delete(self.snapshot_key)
        await gather_bounded(self.store.delete(k) for k in keys)
        return existed

    # --- append ------------------------------------------------------------------------

    async def append(self, view: LogView, records: list[Any]) -> int:
        """Write ``records`` as one create-only segment; returns its sequence number.

        Usually one request. The segment is durable when this returns; a compaction that
        follows is best effort and never turns a written append into an error.
        """
        seq = view.last + 1
        for attempt in range(MAX_APPEND_ATTEMPTS):
            at = time.time()
            body = dumps({"seq": seq, "inc": view.inc, "at": at, "records": records})
            try:
                await self.store.put(self._seg(seq), body, if_none_match=True)
            except PreconditionFailed:
                await after_lost_race(attempt)
                seq = await self._next_free(view, seq)
                continue
            view.tail[seq] = body
            view.last = max(view.last, seq)
            view.updated_at = max(view.updated_at, at)
            if view.last - view.upto >= self.compact_after:
                await self.compact(view)
            return seq
        raise LogContention(f"could not append to {self.prefix} after {MAX_APPEND_ATTEMPTS} tries")

    async def _next_free(self, view: LogView, taken: int) -> int:
        """After losing ``taken``: the number after the real last segment (GET + LIST)."""
        got = await self.store.get(self.snapshot_key)
        if got is None or not view.adopt(*got):
            raise LogNotFound(self.prefix)
        start = max(taken, view.upto)
        keys = await self.store.list(self.segments_prefix, start_after=self._seg(start))
        seqs = [s for k in keys if (s := parse_seq(k, self.segments_prefix)) is not None]
        view.last = max([view.last, start, *seqs])
        return view.last + 1

    # --- compaction --------------------------------------------------------------------

    async def compact(self, view: LogView) -> bool:
        """Fold the tail into the snapshot by compare-and-set; False if it did not happen."""
        try:
            return await self._compact(view)
        except StoreError as exc:
            log.info("compaction of %s skipped: %s", self.prefix, exc)
            return False

    async def _compact(self, view: LogView) -> bool:
        if view.last <= view.upto:
            return False
        base = await self._folded(view)
        try:
            await self._put_snapshot(view, base, view.updated_at)
        except PreconditionFailed:
            got = await self.store.get(self.snapshot_key)
            if got is not None:
                view.adopt(*got)
            return False
        return True

    async def _folded(self, view: LogView, *extra: bytes) -> bytes:
        """The snapshot body with the tail up to ``view.last`` folded in, then ``extra``."""
        wanted = range(view.upto + 1, view.last + 1)
        missing = [s for s in wanted if s not in view.tail]
        if missing:
            bodies = await gather_bounded(self._read_or_plug(view, s) for s in missing)
            view.tail.update(zip(missing, bodies, strict=True))
        parts = [view.tail[s] for s in wanted if view.tail[s]]
        return b"\n".join([view.base, *parts, *extra] if view.base else [*parts, *extra])

    async def _put_snapshot(self, view: LogView, base: bytes, updated_at: float) -> None:
        """Replace the snapshot ``view`` read with one holding ``base`` up to ``view.last``
        (compare-and-set: ``PreconditionFailed`` when it changed); ``view`` follows."""
        upto = view.last
        data = b"".join((view.header(upto, updated_at), b"\n", base))  # one copy of a long base
        etag = await self.store.put(self.snapshot_key, data, if_match=view.etag)
        view.upto, view.etag, view.base, view.updated_at = upto, etag, base, updated_at
        view.tail = {s: b for s, b in view.tail.items() if s > upto}

    async def commit(self, view: LogView, records: list[Any]) -> None:
        """Write ``records`` into the snapshot as one entry, after the tail ``view`` knows
        (1 request; module docstring). Only for a writer no other writer of its kind races
        (a turn under its lease): a lost compare-and-set is re-read and retried.
        ``LogNotFound`` when the log was deleted (or re-created) meanwhile."""
        for _ in range(MAX_APPEND_ATTEMPTS):
            at = time.time()
            entry = _entry(view.inc, at, records)
            base = await self._folded(view, entry)
            try:
                await self._put_snapshot(view, base, max(view.updated_at, at))
                return
            except PreconditionFailed:
                got = await self.store.get(self.snapshot_key)
                if got is None or not view.adopt(*got):
                    raise LogNotFound(self.prefix) from None
                if got[0].endswith(b"\n" + entry):  # ours, applied before a retry failed
                    return
        raise LogContention(f"could not commit to {self.prefix} after {MAX_APPEND_ATTEMPTS} tries")

    async def _read_or_plug(self, view: LogView, seq: int) -> bytes:
        """A segment's body for the snapshot (b"" to skip it), plugging it if it is missing."""
        key = self._seg(seq)
        for _ in range(3):
            got = await self.store.get(key)
            if got is not None:
                seg = json.loads(got[0])
                if seg.get("inc") != view.inc:
                    return b""
                view.updated_at = max(view.updated_at, float(seg["at"]))
                return got[0]
            plug = dumps({"seq": seq, "inc": "", "at": time.time(), "records": []})
            try:
                await self.store.put(key, plug, if_none_match=True)
                return b""
            except PreconditionFailed:
                continue  # a writer just took this number: read what it wrote
        raise LogContention(f"segment {key} keeps appearing and vanishing")
