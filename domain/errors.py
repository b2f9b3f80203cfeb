"""Domain errors. Each names the thing it concerns so a user can act on it."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the ledger raises on purpose."""


class InvalidValueError(DomainError):
    """An input value is refused: nothing was recorded."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = f"{field} {reason}" if value is None else f"{field}: {value!r} {reason}"
        super().__init__(shown)


class OrderNotFoundError(DomainError):
    """No works order with this ERP order number is in the ledger."""

    def __init__(self, order_no: str, integration: str) -> None:
        self.order_no = order_no
        self.integration = integration
        super().__init__(f"order {order_no!r} (integration {integration!r}) is not in the ledger")


class OrderStateError(DomainError):
    """The order's state does not allow the action."""

    def __init__(self, order_no: str, state: str, action: str) -> None:
        self.order_no = order_no
        self.state = state
        self.action = action
        super().__init__(f"order {order_no!r} is {state}: cannot {action}")


class OperationStateError(DomainError):
    """The operation's state does not allow the action."""

    def __init__(self, order_no: str, operation: str, state: str, action: str) -> None:
        self.order_no = order_no
        self.operation = operation
        self.state = state
        self.action = action
        super().__init__(f"order {order_no!r} operation {operation!r} is {state}: cannot {action}")


class ConflictNotFoundError(DomainError):
    """No open conflict on this field of the order."""

    def __init__(self, order_no: str, field: str) -> None:
        self.order_no = order_no
        self.field = field
        super().__init__(f"order {order_no!r} has no open conflict on field {field!r}")


class RowNotFoundError(DomainError):
    """No report-script row with this id on the order."""

    def __init__(self, order_no: str, row_id: str) -> None:
        self.order_no = order_no
        self.row_id = row_id
        super().__init__(f"order {order_no!r} has no report-script row {row_id!r}")


class IdempotencyKeyReusedError(DomainError):
    """The idempotency key was already used for a different command."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"idempotency key {key!r} was already used for a different command")


class ConcurrencyError(DomainError):
    """Other writers kept changing the order; the bounded retries ran out."""

    def __init__(self, order_no: str, attempts: int) -> None:
        self.order_no = order_no
        self.attempts = attempts
        super().__init__(
            f"order {order_no!r} was changed by other writers {attempts} times in a row; "
            "retry the command"
        )
