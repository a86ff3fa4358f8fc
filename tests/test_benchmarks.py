"""The step benchmark runs, and its one-step gradients agree with the book's network.

No timing is asserted: times depend on the machine. What must hold everywhere is that
``benchmarks/step.py --quick`` finishes cleanly and that, from the same weights,
minigrad's parameter gradients equal the hand-written reference's in every scenario.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

STEP = Path(__file__).resolve().parent.parent / "benchmarks" / "step.py"
SCENARIOS = ("book-f64", "book-f32", "wide", "deep-narrow", "tiny")


def run(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_step_benchmark_quick_runs_and_gradients_agree():
    # why: --no-torch keeps the test the same whether or not PyTorch happens to be installed
    done = run(STEP, "--quick", "--no-torch")
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    for name in SCENARIOS:
        assert f"grad-check {name} minigrad: agrees" in done.stdout, report
        assert f"grad-check {name} compiled: agrees" in done.stdout, report
        assert f"grad-check {name} ideal: agrees" in done.stdout, report
    assert "DISAGREES" not in done.stdout, report
    assert "gradient agreement: every scenario agrees" in done.stdout, report


def test_plan_sections_times_every_section_of_a_compiled_step():
    done = run(STEP.parent / "plan_sections.py", "--scenarios", "tiny", "--rounds", "2")
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if "|" in line}
    for section in ("zero_grad", "forward", "loss", "backward", "update", "total (reference)"):
        assert section in rows, report
    # every section of the tiny step takes some time: a wrong grouping would leave one at 0.0
    for section in ("forward", "loss", "backward", "update"):
        assert float(rows[section].split("|")[2]) > 0.0, report
