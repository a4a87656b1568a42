"""Scheduled housekeeping for contacts."""

from sqlalchemy import Engine

from crm.contacts import search
from crm.core.db import default_engine, job_session


def prune_search_words(engine: Engine | None = None) -> int:
    """Daily, on PostgreSQL: drop the search words of deleted contacts that no contact
    uses any more, a batch per transaction (each locks out new words while it runs)."""
    gone, after = 0, ""
    while after is not None:
        with job_session(engine or default_engine()) as session:
            pruned, after = search.prune_words(session, after=after, wait_ms=30_000)
        gone += pruned
    return gone
