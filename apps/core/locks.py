"""Serialising writers that must commit in order."""
import zlib

from django.db import connection


def serialize(name: str) -> None:
    """Hold a lock named `name` until the current transaction ends.

    PostgreSQL gets a transaction-scoped advisory lock. SQLite needs nothing:
    every write transaction is already exclusive (transaction_mode=IMMEDIATE).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [zlib.crc32(name.encode())])
