"""Who did something: a staff user, an operator at the command line, a mirror, or the system."""
import getpass
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class Actor:
    label: str
    user: AbstractBaseUser | None = None

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> "Actor":
        return cls(label=f"user:{user.get_username()}", user=user)

    @classmethod
    def operator(cls, username: str | None = None) -> "Actor":
        """The person running a management command, by their OS login unless named."""
        try:
            login = username or getpass.getuser()
        except (KeyError, OSError):
            login = "unknown"
        return cls(label=f"cli:{login}")

    @classmethod
    def system(cls) -> "Actor":
        return cls(label="system")

    def __str__(self) -> str:
        return self.label
