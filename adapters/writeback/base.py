"""What every writeback transport shares: its contract and how it reports failures."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from adapters.writeback.config import Retry
from adapters.writeback.messages import Message

T = TypeVar("T")


class TransientError(Exception):
    """The destination is unreachable or busy (timeout, refused, 5xx, broker down): retry later."""


def one_line(text: str, limit: int = 900) -> str:
    """A reason fit for a warning: one line, no control characters, not too long."""
    return " ".join(str(text).split())[:limit]


class Refused(Exception):
    """The destination refused the delivery for good (4xx, a validation error from the ERP)."""

    def __init__(self, reason: str) -> None:
        reason = one_line(reason)
        self.reason = reason
        super().__init__(reason)


# What a transport says about each message of a delivery: None = applied, str = refused (why).
Outcome = str | None


class Transport(ABC):
    """Delivers messages to one ERP destination; the same key may arrive more than once."""

    batch_size: int = 1

    @abstractmethod
    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        """Deliver messages in order; one outcome per message.

        Raises :class:`TransientError` when nothing can be said (retry the whole delivery),
        :class:`Refused` when the delivery was refused as a whole (the pump then sends the
        messages one by one to find the one refused).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def retrying(policy: Retry, fn: Callable[[], T]) -> T:
    """Call ``fn``, retrying transient failures with exponential backoff and jitter."""
    for attempt in Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential_jitter(multiplier=policy.initial_seconds, max=policy.max_seconds),
        retry=retry_if_exception_type(TransientError),
        reraise=True,
    ):
        with attempt:
            return fn()
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["Outcome", "Refused", "TransientError", "Transport", "one_line", "retrying"]
