"""How long to wait before trying again: one policy for handler runs and webhook deliveries."""
import random


def backoff_seconds(attempt: int, *, base: float, cap: float = 3600.0) -> float:
    """The wait after try number `attempt` failed: base, twice that, four times... up to `cap`, half of it random.

    The jitter spreads the retries of many things that failed together (a
    receiver or a database that was down) so they do not all come back at the
    same second.
    """
    full = min(base * 2 ** max(attempt - 1, 0), cap)
    return full / 2 + random.uniform(0, full / 2)
