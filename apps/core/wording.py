"""One vocabulary for counts in every message: a sample is one row of a release, its key what a blocklist lists,
a match one identifier hitting one sample (two identifiers hitting one sample are two matches of one sample)."""

_PLURALS = {"match": "matches", "entry": "entries", "identifier": "identifiers"}


def counted(count: int, word: str) -> str:
    """"1 sample", "2 samples", "1,000 matches"."""
    return f"{count:,} {word if count == 1 else _PLURALS.get(word, word + 's')}"
