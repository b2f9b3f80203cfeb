"""Schemathesis fuzzing against the app's own OpenAPI document: no input answers 5xx, and every
answer matches the document (status, content type, body schema, headers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Api, api_on

MAX_EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Every route is fuzzed (writeback routes without an integration file: no destinations).
NOT_HERE: set[str] = set()
# Known ids, so generated requests also reach the ledger's rules, not only "unknown order".
KNOWN = {"order_no": "WO-1", "op_id": "10", "work_centre": "LATHE-1"}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API on SQLite with an order to act on (fuzzing on one backend is enough)."""
    db: Path = tmp_path_factory.mktemp("fuzz") / "ledger.db"
    with api_on(f"sqlite:///{db}", max_read_wait_seconds=0.2) as api:
        api.release("WO-1")
        api.post("olga", "/orders/WO-1/operations/10/start")
        yield api


def fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], **fixed: Any) -> None:
    strategy = operation.as_strategy(generation_mode=mode, **fixed)

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_makes_the_api_fail_or_break_its_contract(
    fuzzed: Api, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    headers = fuzzed.headers("ada")
    failures: list[str] = []
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if not set(op.tags or ()) & NOT_HERE
    ]
    assert len(operations) >= 20
    for operation in operations:
        known = {k: v for k, v in KNOWN.items() if "{" + k + "}" in operation.path}
        runs: list[dict[str, Any]] = [{}]
        if known and mode == GenerationMode.POSITIVE:
            runs.append({"path_parameters": known})
        for fixed in runs:
            try:
                fuzz(operation, mode, headers, **fixed)
            except Unsatisfiable:
                pass  # nothing to make invalid (no parameters, no body)
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
