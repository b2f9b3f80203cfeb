"""docs/getting-started.md section 3 ("The same by hand") run as printed: its shell blocks are
taken from the Markdown and run in bash in a fresh folder (the CLI, the three processes, the
curl calls), and the outputs the doc shows are compared with what they really print — so a
doc that stops being true fails here (issue #18)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_main_job import free_port

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "getting-started.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)

PRELUDE = """
set -e
floorledger() { "$PYTHON" -m api.cli "$@"; }
n=0
curl() { n=$((n+1)); command curl -sS -w '\\n@@STATUS %{http_code}\\n' "$@" > "curl.$n"; }
"""


def fenced(markdown: str) -> list[tuple[str, str]]:
    """The fenced blocks of a Markdown text: (language, body)."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(markdown)]


def by_hand_script(port: int) -> tuple[str, list[tuple[str, str]]]:
    """Section 3's shell blocks as one bash script (processes started in the background), and
    every block of the section (to find the documented outputs)."""
    text = DOC.read_text()
    section = text[text.index("## 3. The same by hand") : text.index("## Next")]
    blocks = fenced(section)
    lines: list[str] = []
    for lang, body in blocks:
        if lang not in ("sh", "console"):
            continue
        for line in body.replace("127.0.0.1:8000", f"127.0.0.1:{port}").splitlines():
            cmd = line.split("#")[0].strip()
            if cmd in ("floorledger serve", "floorledger sync", "floorledger writeback run"):
                log = cmd.split()[1]
                lines.append(f"{cmd} > {log}.log 2>&1 & echo $! >> pids")
                continue
            lines.append(line)
        if "floorledger serve" in body:
            lines.append(
                f"until command curl -sf http://127.0.0.1:{port}/health/live >/dev/null; "
                "do sleep 0.2; done"
            )
    return PRELUDE + "\n".join(lines) + "\n", blocks


def outputs(folder: Path) -> list[tuple[int, str]]:
    """Each curl call's status and body, in the order they ran."""
    calls = sorted(folder.glob("curl.*"), key=lambda p: int(p.suffix[1:]))
    out = []
    for path in calls:
        body, _, status = path.read_text().rpartition("@@STATUS ")
        out.append((int(status), body.strip()))
    return out


def documented_json(blocks: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [json.loads(body) for lang, body in blocks if lang == "json"]


@pytest.fixture(scope="module")
def by_hand(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[tuple[str, str]]]:
    folder = tmp_path_factory.mktemp("getting-started")
    shutil.copytree(ROOT / "examples", folder / "examples")
    port = free_port()
    script, blocks = by_hand_script(port)
    (folder / "steps.sh").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOORLEDGER_")}
    env.update(PYTHON=sys.executable, PYTHONPATH=str(ROOT), FLOORLEDGER_PORT=str(port))
    env["COLUMNS"] = "200"  # a wide terminal: the lines the doc shows are not wrapped
    # Its own session: the servers the script leaves in the background (which a
    # non-interactive shell starts ignoring SIGINT) are stopped with it, group and all.
    steps = subprocess.Popen(
        ["bash", "steps.sh"], cwd=folder, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = steps.communicate(timeout=300)
    finally:
        stop_group(steps.pid)
    (folder / "steps.out").write_text(output)
    assert steps.returncode == 0, output
    return folder, output, blocks


def stop_group(pgid: int) -> None:
    """SIGTERM every process of the group (as an operator stops the servers), then SIGKILL
    what is still there after 10 s."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + grace
        while time.monotonic() < end:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def test_every_curl_call_of_the_getting_started_answers_as_documented(
    by_hand: tuple[Path, str, list[tuple[str, str]]],
) -> None:
    folder, _stdout, blocks = by_hand
    calls = outputs(folder)
    statuses = [status for status, _ in calls]
    refused = [i for i, s in enumerate(statuses) if s >= 400]
    assert len(refused) == 1, calls  # only the one the doc shows refused
    # the reasons the doc uses are the example integration's: nothing is warned
    warned = [
        body for status, body in calls if body.startswith("{") and json.loads(body).get("warnings")
    ]
    assert warned == []
    start, refusal = documented_json(blocks)[:2]
    assert json.loads(calls[0][1]) == start
    assert {k: v for k, v in json.loads(calls[refused[0]][1]).items() if k in refusal} == refusal


def test_the_documented_conflict_and_verification_answers_are_what_the_api_says(
    by_hand: tuple[Path, str, list[tuple[str, str]]],
) -> None:
    folder, _stdout, blocks = by_hand
    calls = outputs(folder)
    section = "\n".join(body for _, body in blocks)
    push = next(json.loads(b) for _, b in calls if '"ConflictRaised"' in b)
    assert push["events"] == ["ConflictRaised"] and '# → "events": ["ConflictRaised"]' in section
    listed = next(json.loads(b) for _, b in calls if b.startswith('[{"conflict_id"'))
    shown = json.loads(re.search(r"# → (\[\{.*)\n", section).group(1).replace(", …}", "}"))  # type: ignore[union-attr]
    assert {k: listed[0][k] for k in shown[0]} == shown[0]
    verified = next(json.loads(b) for _, b in calls if '"findings"' in b)
    documented = json.loads(re.search(r'# → (\{"order_no".*"findings".*)\n', section).group(1))  # type: ignore[union-attr]
    assert verified == documented


def test_the_documented_sync_output_is_what_sync_once_prints(
    by_hand: tuple[Path, str, list[tuple[str, str]]],
) -> None:
    _folder, stdout, blocks = by_hand
    shown = next(body for lang, body in blocks if lang == "" and "released, 0 changed" in body)
    for line in shown.strip().splitlines():
        assert line in stdout, line


def test_the_report_script_of_the_mode_d_examples_holds_only_its_header_as_documented(
    by_hand: tuple[Path, str, list[tuple[str, str]]],
) -> None:
    folder, _stdout, blocks = by_hand
    assert "holds only its header line" in "\n".join(body for _, body in blocks)
    lines = (folder / "report-script.csv").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("row_id")
