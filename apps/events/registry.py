"""Which events exist and who handles them: the one seam between the stages.

A stage declares the events it records (`declare`, in its `events.py`); an app
that reacts to one subscribes a handler to it (`subscribe`, in its
`handlers.py`, imported from its AppConfig.ready). The producer never knows
its subscribers, so data flows one way: later stages react to earlier ones.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    producer: str


@dataclass(frozen=True)
class Handler:
    """A subscriber: `func(event)` must be idempotent, since it may run again after a crash."""

    name: str
    event: str
    func: Callable = field(compare=False)
    module: str = ""


_events: dict[str, EventType] = {}
_handlers: dict[str, list[Handler]] = {}
_sweepers: list[Callable[[], object]] = []


def declare(name: str, description: str, *, producer: str) -> str:
    """Declare an event a stage records (its name is returned, for use as a constant)."""
    known = _events.get(name)
    if known is not None and known.producer != producer:
        raise ImproperlyConfigured(f"event {name!r} is declared by both {known.producer} and {producer}")
    _events[name] = EventType(name=name, description=description, producer=producer)
    return name


def subscribe(*events: str, name: str) -> Callable:
    """Decorator: run the function, by a worker, for every new event of these names.

    `name` identifies the handler in the outbox (one run per event and handler
    name), so it must not change once runs exist.
    """
    def register(func: Callable) -> Callable:
        for event in events:
            if event not in _events:
                raise ImproperlyConfigured(f"{func.__module__}.{func.__name__} subscribes to {event!r}, "
                                           "which no stage declares")
            listed = _handlers.setdefault(event, [])
            if any(h.name == name and h.func is not func for h in listed):
                raise ImproperlyConfigured(f"two handlers named {name!r} subscribe to {event!r}")
            if not any(h.name == name for h in listed):
                listed.append(Handler(name=name, event=event, func=func, module=func.__module__))
        return func

    return register


def handlers_for(event: str) -> list[Handler]:
    """The handlers subscribed to an event name; an undeclared name is a programming error."""
    if event not in _events:
        raise ImproperlyConfigured(f"event {event!r} is not declared (apps.events.registry.declare)")
    return list(_handlers.get(event, ()))


def handler(event: str, name: str) -> Handler | None:
    return next((h for h in _handlers.get(event, ()) if h.name == name), None)


def event_types() -> list[EventType]:
    return sorted(_events.values(), key=lambda e: e.name)


def sweep(func: Callable[[], object]) -> Callable[[], object]:
    """Decorator: call the function on every reconciliation, to resume an app's own delivery rows
    (webhooks) the way the outbox resumes handler runs."""
    if func not in _sweepers:
        _sweepers.append(func)
    return func


def sweepers() -> list[Callable[[], object]]:
    return list(_sweepers)
