"""The one application error type: its message is shown to users as it is."""


class TakedownError(Exception):
    """A problem the user can fix; the message says what is wrong and where."""

    def __init__(self, message: str, *, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def __str__(self) -> str:
        if not self.details:
            return self.message
        return "\n".join([self.message, *(f"  {line}" for line in self.details)])


class NotFoundError(TakedownError):
    """A TakedownError about something named that does not exist (a blocklist version): the API answers 404."""
