"""The one place that maps a webhook topic to its handler."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from plugin.intake.delivery import Delivery


class GuardRule(enum.Enum):
    """How a guard compares its value with the one stored under its key (inside the enqueue script)."""

    DIFFERS = "differs"  # blocks when the stored value equals this one
    NOT_OLDER = "not_older"  # blocks when this (integer) value is below the stored one
    NEWER = "newer"  # blocks when this (integer) value is not above the stored one: only strictly newer passes


class Guard(Protocol):
    """A compare-and-set on one Redis key, checked and recorded atomically with the enqueue."""

    @property
    def key(self) -> str:
        """The Redis key compared and set."""

    @property
    def value(self) -> str:
        """This delivery's value for the key."""

    @property
    def ttl(self) -> int:
        """Seconds the key lives once set."""

    @property
    def rule(self) -> GuardRule:
        """How the value compares with the stored one."""

    def reason(self, stored: str) -> str:
        """Why the job was not enqueued, given the value stored under the key."""


@dataclass(frozen=True)
class JobRequest:
    """A job to enqueue for a delivery: dotted function path and primitive keyword arguments."""

    func: str
    kwargs: dict
    guards: tuple[Guard, ...] = ()


@dataclass(frozen=True)
class Ignored:
    """A delivery that needs no job, and why."""

    reason: str


Handler = Callable[[Delivery], "JobRequest | Ignored"]


@dataclass(frozen=True)
class Route:
    """A topic's handler and whether the shop must be installed for it."""

    topic: str
    handler: Handler
    requires_installed_shop: bool = True


@dataclass
class TopicRegistry:
    """Topic → Route; unknown topics are acknowledged and ignored by the receiver."""

    routes: dict[str, Route] = field(default_factory=dict)

    @classmethod
    def of(cls, *routes: Route) -> TopicRegistry:
        """A registry holding routes; a topic named twice is a programming error."""
        registry = cls()
        for route in routes:
            if route.topic in registry.routes:
                raise ValueError(f"topic {route.topic} registered twice")
            registry.routes[route.topic] = route
        return registry

    def get(self, topic: str) -> Route | None:
        """The route for topic, or None when the app does not handle it."""
        return self.routes.get(topic)

    def topics(self) -> list[str]:
        """Every handled topic."""
        return sorted(self.routes)
