"""Every object key the services write, in one place.

```
users/{user}/session-index/{session}                 the session's history snapshot (header +
                                                     segments 1..K + turns committed into it):
                                                     listing the index lists the sessions
users/{user}/sessions/{session}/history/seg/{seq}    one append_message call, create-only
users/{user}/sessions/{session}/state/head           pointer to the latest round (compare-and-set)
users/{user}/sessions/{session}/state/rounds/{round} one saved state, create-only
users/{user}/a2a-tasks/{task}                        an A2A task (protocols/a2a_tasks.py)
users/{user}/memory-index/{session}                  marker: this session has long-term memory
users/{user}/memory/{session}/snapshot               compacted memory log of that session
users/{user}/memory/{session}/seg/{seq}              one add_memory call, create-only
users/{user}/responses/{response}                    a stored Responses API response
users/{user}/quotas/turns                            this minute's turn count (services/quotas.py)
leases/{user}/{session}                              a running turn's lease (services/lock.py):
                                                     the registry of running turns, listed by
                                                     prefix, so not under ``users/``
```

``{user}`` and ``{session}`` are ``storage.keys.id_segment`` of the ids: the id itself when
it is plain, an encoding that cannot form a path otherwise.

Sequence and round numbers are zero-padded to a fixed width so that the store's byte-wise
key order is numeric order: "everything after K" is then a single ``list(start_after=...)``.
(Written before, and still read: ``.../history/snapshot`` holding the snapshot and a marker
``{id, created_at}`` at the session's index entry.)

Indexes live beside (not under) the per-session prefixes because the store contract has no
delimiter listing: listing ``sessions/`` would enumerate every message object of every
session, listing ``session-index/`` enumerates exactly one key per session.
"""

from __future__ import annotations

from ..storage.keys import id_segment, session_prefix, user_prefix

SEQ_WIDTH = 12
MAX_SEQ = 10**SEQ_WIDTH - 1
DEFAULT_SESSION_ID = "default"


def seq_name(seq: int) -> str:
    """A sequence number as a key segment that sorts numerically."""
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"sequence number must be an int in 0..{MAX_SEQ}, got {seq!r}")
    return f"{seq:0{SEQ_WIDTH}d}"


def parse_seq(key: str, prefix: str) -> int | None:
    """The number a key under ``prefix`` stands for; None for keys we did not write."""
    name = key[len(prefix) :] if key.startswith(prefix) else ""
    if len(name) != SEQ_WIDTH or not name.isdigit() or not name.isascii():
        return None
    return int(name)


# --- session history -------------------------------------------------------------------


def session_index_prefix(user_id: str) -> str:
    return f"{user_prefix(user_id)}session-index/"


def session_index_key(user_id: str, session_id: str) -> str:
    return session_index_prefix(user_id) + id_segment(session_id, "session_id")


def history_prefix(user_id: str, session_id: str) -> str:
    return f"{session_prefix(user_id, session_id)}history/"


# --- state -----------------------------------------------------------------------------


def state_head_key(user_id: str, session_id: str) -> str:
    return f"{session_prefix(user_id, session_id)}state/head"


def state_rounds_prefix(user_id: str, session_id: str) -> str:
    return f"{session_prefix(user_id, session_id)}state/rounds/"


def state_round_key(user_id: str, session_id: str, round_id: int) -> str:
    return state_rounds_prefix(user_id, session_id) + seq_name(round_id)


# --- long-term memory ------------------------------------------------------------------


def memory_index_prefix(user_id: str) -> str:
    return f"{user_prefix(user_id)}memory-index/"


def memory_index_key(user_id: str, session_id: str) -> str:
    return memory_index_prefix(user_id) + id_segment(session_id, "session_id")


def memory_prefix(user_id: str, session_id: str) -> str:
    return f"{user_prefix(user_id)}memory/{id_segment(session_id, 'session_id')}/"


# --- Responses API ---------------------------------------------------------------------


def response_key(user_id: str, response_id: str) -> str:
    return f"{user_prefix(user_id)}responses/{id_segment(response_id, 'response_id')}"


# --- inside a log (history or memory) --------------------------------------------------


def log_snapshot_key(log_prefix: str) -> str:
    return f"{log_prefix}snapshot"


def log_segments_prefix(log_prefix: str) -> str:
    return f"{log_prefix}seg/"


def log_segment_key(log_prefix: str, seq: int) -> str:
    return log_segments_prefix(log_prefix) + seq_name(seq)


# --- A2A tasks -------------------------------------------------------------------------


def a2a_tasks_prefix(user_id: str) -> str:
    return f"{user_prefix(user_id)}a2a-tasks/"


def a2a_task_key(user_id: str, task_id: str) -> str:
    return a2a_tasks_prefix(user_id) + id_segment(task_id, "task_id")
