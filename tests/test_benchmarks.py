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


def test_step_benchmark_quick_runs_and_gradients_agree():
    # why: --no-torch keeps the test the same whether or not PyTorch happens to be installed
    done = subprocess.run(
        [sys.executable, str(STEP), "--quick", "--no-torch"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    for name in SCENARIOS:
        assert f"grad-check {name} minigrad: agrees" in done.stdout, report
        assert f"grad-check {name} compiled: agrees" in done.stdout, report
    assert "DISAGREES" not in done.stdout, report
    assert "gradient agreement: every scenario agrees" in done.stdout, report
