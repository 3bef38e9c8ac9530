"""Every PostgreSQL advisory-lock key Engram takes, in one place.

Advisory locks are one key space per database: two features picking the same number would
serialise (or deadlock) each other, so every key is declared here and nowhere else. The
values are fixed forever: servers of different versions sharing one database must agree.
SQLite needs none of them for a transaction: BEGIN IMMEDIATE already holds the whole file's
write lock. Work that spans many transactions (`Database.holding`) takes the key as an OS
file lock beside the SQLite file instead (`<file>-<name>.lock`).
"""

from __future__ import annotations

from enum import IntEnum, unique

_BASE = 0x656E6772616D  # "engram" in ASCII


@unique  # a repeated value fails at import instead of sharing a lock by accident
class Lock(IntEnum):
    MEMORY_SCHEMA = _BASE  # creating or migrating the memory tables
    SERVER_SCHEMA = _BASE + 1  # creating the server's tables (keys, projects, events)
    KEY_BOOTSTRAP = _BASE + 2  # minting the first API key, once across all servers
    EVENT_CLAIM = _BASE + 3  # claiming a queued add (each project's adds run in order)
    EXPIRY_PURGE = _BASE + 4  # purging expired memories: one server at a time, no double history
    VECTOR_CHANGES = _BASE + 5  # logging vector changes: ticks commit in the order they are taken
    TERM_COUNTS = _BASE + 6  # keeping term counts: shared by writes that only add postings
