"""Hypothesis profiles.

Hypothesis itself loads its deterministic ``ci`` profile whenever ``CI`` is set; we
extend that profile with a bounded example count. ``dev`` (quick) and ``thorough``
(about 1,000 examples per property) are loaded only when ``HYPOTHESIS_PROFILE`` names
them, e.g. ``HYPOTHESIS_PROFILE=thorough pytest tests/test_ops.py``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", parent=settings.get_profile("ci"), max_examples=40)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

_chosen = os.environ.get("HYPOTHESIS_PROFILE")
if _chosen:
    settings.load_profile(_chosen)
elif os.environ.get("CI"):
    settings.load_profile("ci")  # why: reload Hypothesis's own ci profile with our extension

# why: --doctest-modules would import the reference generators, which need PyTorch
collect_ignore_glob = ["data/*.py"]
