"""The ``floorledger`` command line, assembled from one module per command group.

Each module imports only the shared ``console``, ``config`` and ``store`` modules (and
``orders`` for the demo's history), never this package or each other in a cycle.
"""

from __future__ import annotations

import typer

from api.cli import golive, jobs, operators, orders, report, sync, tokens, views, writeback

app = typer.Typer(
    name="floorledger",
    help="floorledger: the event-sourced execution ledger between an ERP and a factory floor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("history")(orders.history)
app.command("demo")(jobs.demo)
app.command("run")(jobs.run)
app.command("serve")(jobs.serve)
app.command("sync")(sync.sync)
app.command("sandbox")(golive.sandbox)
app.command("plan")(views.plan)
app.command("status")(views.status)
app.command("report-script")(report.report_script)
app.add_typer(orders.audit_app, name="audit")
app.add_typer(tokens.token_app, name="token")
app.add_typer(golive.mapping_app, name="mapping")
app.add_typer(views.views_app, name="views")
app.add_typer(writeback.writeback_app, name="writeback")
app.add_typer(operators.operator_app, name="operator")


def main() -> None:
    """The ``floorledger`` console script."""
    app()


__all__ = ["app", "main"]
