"""The benchmark method: baseline and subject alternate in rounds within one run.

On a shared machine absolute rates swing between identical runs; a ratio taken from a
baseline and a subject measured side by side, several times over, swings much less. So each
benchmark names its baseline, runs ``baseline, subject`` (and the next round ``subject,
baseline``, so neither always goes first) for ``--rounds`` rounds, and prints the median of
each, the median of the per-round ratios with their spread (min–max and interquartile
range), and the machine's load before and after.

    from bench.method import Machine, alternate
    machine = Machine.now()
    c = alternate("bulk release", "library bulk save", lambda: base(), lambda: ours(),
                  rounds=5, unit="events/s")
    print(c.report())
    print(machine.report())
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


@dataclass
class Machine:
    """CPU count and load average, taken at the start; ``report`` adds the load at the end."""

    cpus: int
    load_before: tuple[float, float, float]
    started: float = field(default_factory=time.time)

    @classmethod
    def now(cls) -> Machine:
        return cls(os.cpu_count() or 1, os.getloadavg())

    def report(self) -> str:
        after = os.getloadavg()
        stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.started))
        end = time.strftime("%H:%M UTC", time.gmtime())
        return (
            f"machine: {self.cpus} CPUs; load average (1/5/15 min) "
            f"{'/'.join(f'{x:.1f}' for x in self.load_before)} before, "
            f"{'/'.join(f'{x:.1f}' for x in after)} after; {stamp}–{end}"
        )


@dataclass
class Comparison:
    """One subject against its named baseline, a value per round for each."""

    subject: str
    baseline: str
    unit: str
    subject_values: list[float]
    baseline_values: list[float]
    higher_is_better: bool = True

    @property
    def ratios(self) -> list[float]:
        return [
            s / b if b else float("nan")
            for s, b in zip(self.subject_values, self.baseline_values, strict=True)
        ]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def report(self) -> str:
        def summary(xs: list[float]) -> str:
            return f"median {statistics.median(xs):,.1f} (min {min(xs):,.1f}, max {max(xs):,.1f})"

        lo, hi = _quartiles(self.ratios)
        rounds = len(self.ratios)
        return (
            f"  baseline {self.baseline}: {summary(self.baseline_values)} {self.unit}\n"
            f"  subject  {self.subject}: {summary(self.subject_values)} {self.unit}\n"
            f"  ratio subject/baseline: median {self.ratio:.2f} "
            f"(min {min(self.ratios):.2f}, max {max(self.ratios):.2f}, "
            f"IQR {lo:.2f}–{hi:.2f}; {rounds} alternated rounds)"
        )


def alternate(
    subject: str,
    baseline: str,
    run_baseline: Callable[[], float],
    run_subject: Callable[[], float],
    *,
    rounds: int,
    unit: str,
    higher_is_better: bool = True,
    verbose: bool = True,
) -> Comparison:
    """Run baseline and subject alternately (AB, BA, AB …) ``rounds`` times each."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    base_values: list[float] = []
    subject_values: list[float] = []
    for r in range(rounds):
        order = ("b", "s") if r % 2 == 0 else ("s", "b")
        got: dict[str, float] = {}
        for which in order:
            got[which] = run_baseline() if which == "b" else run_subject()
        base_values.append(got["b"])
        subject_values.append(got["s"])
        if verbose:
            print(
                f"    round {r + 1}/{rounds}: {baseline} {got['b']:,.1f}, "
                f"{subject} {got['s']:,.1f} {unit}",
                flush=True,
            )
    return Comparison(subject, baseline, unit, subject_values, base_values, higher_is_better)


def rounds_argument(parser: object, default: int = 3) -> None:
    """Add ``--rounds`` to an argparse parser."""
    parser.add_argument(  # type: ignore[attr-defined]
        "--rounds", type=int, default=default, help="alternated baseline/subject rounds"
    )


def percentile(xs: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``xs``; nan when empty."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]
