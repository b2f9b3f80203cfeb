"""Receipts of idempotent commands, saved atomically with the events they produced."""

from __future__ import annotations

from typing import Any

from domain.chain import ChainedAggregate
from domain.values import Actor, receipt_id_for


class CommandReceipt(ChainedAggregate):
    """Proof that the command carrying an idempotency key was applied, and what it produced."""

    class Recorded(ChainedAggregate.Created):
        """The command with this key was applied."""

        key: str
        fingerprint: str
        order_no: str
        outcome: dict[str, Any]
        # the server's id of the submission that recorded it (#11); receipts stored before
        # it have none, read as "" (an optional field: old events keep their stored state,
        # so their hashes verify unchanged)
        command_id: str = ""

        def apply(self, aggregate: Any) -> None:
            aggregate.key = self.key
            aggregate.fingerprint = self.fingerprint
            aggregate.order_no = self.order_no
            aggregate.outcome = dict(self.outcome)
            aggregate.command_id = self.command_id

    key: str
    fingerprint: str
    order_no: str
    outcome: dict[str, Any]
    command_id: str

    def __init__(self) -> None:
        pass

    @classmethod
    def record(
        cls,
        key: str,
        fingerprint: str,
        order_no: str,
        outcome: dict[str, Any],
        actor: Actor,
        command_id: str = "",
    ) -> CommandReceipt:
        r: CommandReceipt = cls._create_chained(
            cls.Recorded,
            id=receipt_id_for(key),
            key=key,
            fingerprint=fingerprint,
            order_no=order_no,
            outcome=outcome,
            command_id=command_id,
            actor_id=actor.id,
            actor_role=actor.role,
            source=actor.source,
        )
        return r
