"""Write optim_reference.npz: PyTorch's optimizer trajectories that test_optim.py replays.

PyTorch is not a test dependency; it is needed only to run this script again:

    pip install torch==2.13.0   # the CPU wheel
    python tests/data/make_optim_reference.py

The file holds, for every case, the starting parameters, the gradient fed at each
step (with a mask of the steps where a parameter had no gradient at all) and the
parameters after every step, all float64. The cases themselves are stored as JSON
under the key "cases", so the test reads them from the file instead of repeating them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

STEPS = 6
SHAPES = [(3, 4), (5,)]

# (name, torch class, keyword arguments); the keyword names are minigrad's too
CASES = [
    ("sgd", "SGD", {"lr": 0.1}),
    ("sgd_weight_decay", "SGD", {"lr": 0.1, "weight_decay": 0.01}),
    ("sgd_momentum", "SGD", {"lr": 0.05, "momentum": 0.9}),
    ("sgd_nesterov", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (
        "sgd_nesterov_weight_decay",
        "SGD",
        {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
    ),
    ("sgd_momentum_weight_decay", "SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.02}),
    ("adam", "Adam", {"lr": 0.01}),
    ("adam_weight_decay", "Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("adam_settings", "Adam", {"lr": 0.2, "betas": [0.5, 0.9], "eps": 1e-3}),
    ("adagrad", "Adagrad", {"lr": 0.1, "eps": 1e-7}),
    ("rmsprop", "RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-8}),
]


def main() -> None:
    # why: imported here so that collecting this file (pytest --doctest-modules) needs no torch
    import torch

    rng = np.random.default_rng(20240607)
    out: dict[str, np.ndarray] = {}
    init = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [rng.standard_normal((STEPS, *shape)) for shape in SHAPES]
    # parameter 1 gets no gradient at steps 2 and 3: it must not move, and Adam's
    # per-parameter step count (its bias correction) must not advance
    has_grad = np.ones((STEPS, len(SHAPES)), dtype=bool)
    has_grad[2:4, 1] = False
    for j in range(len(SHAPES)):
        out[f"init.{j}"] = init[j]
        out[f"grads.{j}"] = grads[j]
    out["has_grad"] = has_grad

    for name, torch_class, kwargs in CASES:
        params = [torch.tensor(x.copy(), dtype=torch.float64, requires_grad=True) for x in init]
        opt = getattr(torch.optim, torch_class)(params, **kwargs)
        trajectory = [[x.copy()] for x in init]
        for step in range(STEPS):
            for j, p in enumerate(params):
                p.grad = torch.tensor(grads[j][step]) if has_grad[step, j] else None
            opt.step()
            for j, p in enumerate(params):
                trajectory[j].append(p.detach().numpy().copy())
        for j in range(len(SHAPES)):
            out[f"{name}.{j}"] = np.stack(trajectory[j])

    minigrad_class = {"SGD": "SGD", "Adam": "Adam", "Adagrad": "AdaGrad", "RMSprop": "RMSprop"}
    cases = [[name, minigrad_class[cls], kwargs] for name, cls, kwargs in CASES]
    out["cases"] = np.array(json.dumps(cases))
    out["torch_version"] = np.array(torch.__version__)
    path = Path(__file__).with_name("optim_reference.npz")
    np.savez(path, **out)
    print(f"wrote {path} ({len(CASES)} cases, torch {torch.__version__})")


if __name__ == "__main__":
    main()
