"""The long-running jobs and the demo: ``run``, ``serve``, ``demo``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from adapters.config import ConfigError
from api.cli.config import settings_of
from api.cli.console import console, err
from api.cli.orders import print_history
from api.cli.store import open_ledger
from api.demo import run_demo
from api.main_job import (
    EXAMPLE_CONFIG,
    MainJob,
    demo_operator_for,
    load,
    log_to_console,
    operator_token,
    prepare_folders,
    resolve_config,
)
from api.runtime import ApiSettings


def demo() -> None:
    """Release a sample order, work a short shift on it, raise and resolve a conflict, show it."""
    with open_ledger() as ledger:
        order_no = run_demo(ledger)
        print_history(ledger, order_no, "demo", as_json=False)


SslCertfile = Annotated[
    Path | None,
    typer.Option(help="Serve HTTPS with this PEM certificate (FLOORLEDGER_SSL_CERTFILE)."),
]
SslKeyfile = Annotated[
    Path | None,
    typer.Option(help="The certificate's PEM private key (FLOORLEDGER_SSL_KEYFILE)."),
]


def with_tls(settings: ApiSettings, certfile: Path | None, keyfile: Path | None) -> ApiSettings:
    """The settings with the TLS options given on the command line; missing files exit 2."""
    certfile = certfile or settings.ssl_certfile
    keyfile = keyfile or settings.ssl_keyfile
    for name, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if path is not None and not Path(path).is_file():
            err.print(f"[red]configuration error[/red] {name}: no such file {str(path)!r}")
            raise typer.Exit(2)
    if keyfile is not None and certfile is None:
        err.print("[red]configuration error[/red] --ssl-keyfile needs --ssl-certfile")
        raise typer.Exit(2)
    return settings.model_copy(update={"ssl_certfile": certfile, "ssl_keyfile": keyfile})


def run(
    config: Annotated[
        Path | None,
        typer.Option(help="Integration file (default: $FLOORLEDGER_CONFIG, else the example)."),
    ] = None,
    seed: Annotated[
        Path | None,
        typer.Option(help="Plans copied into each empty file inbox on a first run."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo_order: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Record the demo order on a new store.")
    ] = True,
    ssl_certfile: SslCertfile = None,
    ssl_keyfile: SslKeyfile = None,
) -> None:
    """The main job: the HTTP API with the ERP sync and writeback workers, tokens printed."""
    # uvicorn and the app are imported only by the commands that serve (CLI start-up time).
    import uvicorn

    from api.app import create_app
    from api.security import scheme, uvicorn_options

    settings = with_tls(settings_of(ApiSettings), ssl_certfile, ssl_keyfile)
    host = host or settings.host
    port = settings.port if port is None else port
    base = f"{scheme(settings)}://{host}:{port}"
    config_path = resolve_config(config)
    try:
        integrations = load(config_path)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red] {exc}")
        raise typer.Exit(2) from None
    if seed is None and config_path == EXAMPLE_CONFIG:
        seed = EXAMPLE_CONFIG.parent / "plans"
    copied = prepare_folders(integrations, seed) if integrations else []

    with open_ledger() as ledger:
        fresh = ledger.position() == 0
        demo_no = run_demo(ledger) if demo_order and fresh else None
    operator = operator_token(settings, "operator", "operator")
    supervisor = operator_token(settings, "supervisor", "supervisor")
    demo_operator = demo_operator_for(settings, create=demo_no is not None)

    job = MainJob(settings, integrations)
    job.start_workers()
    console.print(f"[bold]floorledger[/bold] on {settings.redacted_url()}")
    if config_path is not None and integrations is not None:
        names = ", ".join(f"{i.name} (mode {i.mode})" for i in integrations.integrations)
        console.print(f"integrations from {config_path}: {names}")
    if copied:
        console.print(f"example plans dropped into the ERP inboxes: {', '.join(copied)}")
    if demo_no:
        console.print(f"demo order recorded: {demo_no} (integration demo)")
    console.print(
        f"\n  API docs      {base}/docs\n"
        f"  operator      Bearer {operator}\n"
        f"  supervisor    Bearer {supervisor}\n"
        f"  plan          curl -H 'Authorization: Bearer {operator}' "
        f"{base}/work-centres/SAW-1/plan\n"
        "  writeback     var/erp/performance/ (with the example configuration)\n"
        f"\n  terminal      {base}/terminal\n"
        "                sign it in with the supervisor token above and work centres such as\n"
        "                SAW-1, LASER-1, COAT-1; then operators sign on with a badge or PIN"
        + (f"\n                (demo operator {demo_operator})" if demo_operator else "")
        + f"\n  office        {base}/office\n"  # issue #15
        "                sign in with the supervisor token above (or an auditor's token)\n"
        "\nCtrl-C stops everything.\n",
        soft_wrap=True,
    )
    log_to_console()
    try:
        uvicorn.run(
            create_app(settings), host=host, port=port, log_level="warning",
            **uvicorn_options(settings),
        )  # fmt: skip
    finally:
        job.close()


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (FLOORLEDGER_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (FLOORLEDGER_PORT, 8000).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (FLOORLEDGER_WORKERS, 1).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
    ssl_certfile: SslCertfile = None,
    ssl_keyfile: SslKeyfile = None,
) -> None:
    """Serve the HTTP API for the floor, supervisors, auditors and ERP pushes (uvicorn)."""
    import uvicorn  # only the commands that serve pay for it (CLI start-up time)

    from api.security import scheme, uvicorn_options

    settings = with_tls(settings_of(ApiSettings), ssl_certfile, ssl_keyfile)
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    # Each worker builds its own app from the environment (create_app is the factory).
    os.environ["FLOORLEDGER_HOST"] = host
    os.environ["FLOORLEDGER_PORT"] = str(port)
    if settings.ssl_certfile is not None:
        os.environ["FLOORLEDGER_SSL_CERTFILE"] = str(settings.ssl_certfile)
    if settings.ssl_keyfile is not None:
        os.environ["FLOORLEDGER_SSL_KEYFILE"] = str(settings.ssl_keyfile)
    err.print(
        f"floorledger API on {scheme(settings)}://{host}:{port} ({workers} worker(s)), "
        f"store {settings.redacted_url()}"
    )
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        **uvicorn_options(settings),
    )
