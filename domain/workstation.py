"""The Workstation aggregate: a measuring point and the order currently running on it (mode A)."""

from __future__ import annotations

from typing import Any

from domain.chain import ChainedAggregate
from domain.values import Actor, text, workstation_id_for


class Workstation(ChainedAggregate):
    """A measuring point on the floor."""

    class Event(ChainedAggregate.Event):
        name: str

        def summary(self) -> str:
            return type(self).__name__

    class Registered(Event, ChainedAggregate.Created):
        """The measuring point became known to the ledger."""

        def summary(self) -> str:
            return f"measuring point {self.name} registered"

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.name
            aggregate.active_order_no = None
            aggregate.active_part_no = None
            aggregate.integration = None
            aggregate.warnings = 0
            aggregate.open_warnings = 0

    class ActiveOrderChanged(Event):
        """The order running on the measuring point changed (or none is running)."""

        integration: str | None
        order_no: str | None
        part_no: str | None

        def summary(self) -> str:
            if self.order_no is None:
                return f"no order running on {self.name}"
            return f"order {self.order_no} ({self.part_no or '?'}) running on {self.name}"

        def apply(self, aggregate: Any) -> None:
            aggregate.integration = self.integration
            aggregate.active_order_no = self.order_no
            aggregate.active_part_no = self.part_no

    class WarningRaised(Event):
        """An integration warning about this measuring point; the last known order stays."""

        code: str
        message: str

        def summary(self) -> str:
            return f"warning {self.code}: {self.message}"

        def apply(self, aggregate: Any) -> None:
            aggregate.warnings += 1
            aggregate.open_warnings += 1

    class ErpAnswered(Event):
        """The ERP answered again for this measuring point; its open warnings no longer apply."""

        def summary(self) -> str:
            return f"the ERP answers again for {self.name}"

        def apply(self, aggregate: Any) -> None:
            aggregate.open_warnings = 0

    name: str
    integration: str | None
    active_order_no: str | None
    active_part_no: str | None
    warnings: int
    open_warnings: int

    def __init__(self) -> None:
        pass

    @classmethod
    def register(cls, name: str, actor: Actor) -> Workstation:
        name = text("workstation", name, max_len=60)
        ws: Workstation = cls._create_chained(
            cls.Registered,
            id=workstation_id_for(name),
            name=name,
            actor_id=actor.id,
            actor_role=actor.role,
            source=actor.source,
        )
        return ws

    def _trigger(self, event_class: type[Any], actor: Actor, **kwargs: Any) -> None:
        self.trigger_event(
            event_class,
            name=self.name,
            actor_id=actor.id,
            actor_role=actor.role,
            source=actor.source,
            **kwargs,
        )

    def set_active_order(
        self, integration: str | None, order_no: str | None, part_no: str | None, actor: Actor
    ) -> None:
        """Record the order now running here; the same order again records nothing."""
        order_no = text("order_no", order_no, required=False, max_len=80) or None
        part_no = text("part_no", part_no, required=False, max_len=80) or None
        if order_no is None:
            integration, part_no = None, None
        if (integration, order_no, part_no) == (
            self.integration,
            self.active_order_no,
            self.active_part_no,
        ):
            return
        self._trigger(
            self.ActiveOrderChanged,
            actor,
            integration=integration,
            order_no=order_no,
            part_no=part_no,
        )

    def erp_answered(self, actor: Actor) -> None:
        """Close the open warnings once the ERP answers; nothing is recorded when none is open."""
        if self.open_warnings:
            self._trigger(self.ErpAnswered, actor)

    def raise_warning(self, code: str, message: str, actor: Actor) -> None:
        self._trigger(
            self.WarningRaised,
            actor,
            code=text("code", code, max_len=60),
            message=text("message", message, max_len=1000),
        )
