"""The trusted side of `bpdrill explore` that runs in the worker (bpdrill.grading.isolation): the
experiments named `*_task`, which the worker calls with the learner's modules (a task job),
and the probe that compares an exercise with no grader module with the reference.

The reference solutions a task falls back on are loaded by bpdrill.explore.explore before the worker
is forked, under private names: the worker never reads the kit's solutions from disk, and a
learner's `import bpdrill.solutions` stays refused.
"""
from __future__ import annotations

import importlib.util
import math
from functools import lru_cache

import numpy as np

from bpdrill.core.protocol import Scenario

COMPONENTS = ("linear", "sigmoid", "relu", "tanh", "batchnorm", "init", "clip_grad_norm")
ACTIVATIONS = {"sigmoid": ("sigmoid", "Sigmoid"), "tanh": ("tanh", "Tanh"), "relu": ("relu", "ReLU")}


# ---- the reference solutions, under private names --------------------------------------------

_REFERENCE_FILES: dict = {}  # name -> the reference's file, for a worker started afresh (no fork)


@lru_cache(maxsize=None)
def reference_module(name: str):
    """The reference solution of an exercise, loaded under a private name (not in sys.modules)."""
    path = _REFERENCE_FILES.get(name)
    if path is None:
        from bpdrill.practice.workspace import solution_path
        path = solution_path(name)
    spec = importlib.util.spec_from_file_location(f"_bpdrill_reference_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- a quick comparison with the reference, for an exercise with no grader module here --------

def probe(name: str, module, seed: int) -> dict:
    """One hidden input through an exercise's code: the outputs to compare with the reference's."""
    rng = np.random.default_rng(seed)
    if name == "linear":
        layer = module.Linear(5, 4, rng=np.random.default_rng(0))
        layer.W, layer.b = rng.normal(size=(5, 4)), rng.normal(size=4)
        out = layer.forward(rng.normal(size=(3, 5)))
        dx = layer.backward(rng.normal(size=(3, 4)))
        return {"out": out, "dx": dx, "dW": layer.dW, "db": layer.db}
    if name in ACTIVATIONS:
        act = getattr(module, ACTIVATIONS[name][1])()
        x = 3 * rng.normal(size=(4, 6))
        x[0, :3] = 0.0  # exactly 0: ReLU's derivative there is 0, as in PyTorch
        out = act.forward(x)
        return {"out": out, "dx": act.backward(rng.normal(size=(4, 6)))}
    if name == "batchnorm":
        bn = module.BatchNorm1d(5)
        bn.gamma, bn.beta = rng.normal(size=5), rng.normal(size=5)
        out = bn.forward(2 * rng.normal(size=(6, 5)) + 1)
        dx = bn.backward(rng.normal(size=(6, 5)))
        return {"out": out, "dx": dx, "dgamma": bn.dgamma, "dbeta": bn.dbeta}
    if name == "clip_grad_norm":
        grads = {"a": 5 * rng.normal(size=(3, 4)), "b": 5 * rng.normal(size=7)}
        total = module.clip_grad_norm(grads, 1.0)
        small = {"c": 1e-3 * rng.normal(size=4)}
        kept = module.clip_grad_norm(small, 1.0)
        return {"total": float(total), "a": grads["a"], "b": grads["b"], "kept": float(kept), "c": small["c"]}
    if name == "init":
        # Statistics against the theory, not a draw against the reference's (any correct sampler passes).
        found = {}
        for scheme, fans in (("xavier", (300, 200)), ("kaiming", (300, 200))):
            std = math.sqrt(2 / sum(fans)) if scheme == "xavier" else math.sqrt(2 / fans[0])
            for kind in ("uniform", "normal"):
                w = np.asarray(getattr(module, f"{scheme}_{kind}")(*fans, np.random.default_rng(seed)))
                again = np.asarray(getattr(module, f"{scheme}_{kind}")(*fans, np.random.default_rng(seed)))
                found[f"{scheme}_{kind}"] = np.array([
                    w.shape == fans, float(np.std(w)) / std, float(np.abs(w).max()) / (math.sqrt(3) * std),
                    abs(float(np.mean(w))) / std, np.array_equal(w, again)], dtype=float)
        return found
    raise KeyError(name)


def probe_task(modules: dict, scenario: Scenario) -> dict:
    """In the worker: the probe of one learner module."""
    name = scenario.params["exercise"]
    return probe(name, modules[name], scenario.params["seed"])


def probe_agrees(name: str, values: dict, seed: int) -> bool:
    if name == "init":
        for key in ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"):
            shape_ok, std_ratio, max_ratio, mean_ratio, repeat = values[key]
            if not (shape_ok and repeat and abs(std_ratio - 1) < 0.03 and mean_ratio < 0.03):
                return False
            if key.endswith("uniform") and not 0.98 < max_ratio <= 1 + 1e-9:
                return False
        return True
    expected = probe(name, reference_module(name), seed)
    for key, want in expected.items():
        got = values.get(key)
        if got is None or np.shape(got) != np.shape(want) or not np.allclose(got, want, rtol=1e-6, atol=1e-9):
            return False
    return True


# ---- the experiments (trusted code, run in the worker with the learner's modules) -------------

def _impl(modules: dict, name: str):
    return modules[name] if name in modules else reference_module(name)


def reference_files() -> dict:
    """Where each reference is, for a task's scenarios: a worker that is not forked (and so has
    not inherited them) loads them from there, without importing bpdrill.solutions."""
    from bpdrill.practice.workspace import solution_path
    return {name: str(solution_path(name)) for name in COMPONENTS}


def _weights(modules: dict, scheme: str, width: int, rng, gain: float = 1.0) -> np.ndarray:
    if scheme == "naive":
        return gain * rng.standard_normal((width, width))
    init = _impl(modules, "init")
    draw = init.xavier_normal if scheme == "xavier" else init.kaiming_normal
    return gain * np.asarray(draw(width, width, rng), dtype=np.float64)


class _Net:
    """depth blocks: Linear, [BatchNorm1d], the activation, and (residual) added to the block's
    input; with head=True the last block is a Linear alone (a regression output)."""

    def __init__(self, modules, depth, width, activation, scheme, residual, batchnorm, rng, gain=1.0,
                 head=False):
        self.blocks = []
        for i in range(depth):
            last = head and i == depth - 1
            lin = _impl(modules, "linear").Linear(width, width, rng=rng)
            lin.W, lin.b = _weights(modules, scheme, width, rng, gain), np.zeros(width)
            bn = _impl(modules, "batchnorm").BatchNorm1d(width) if batchnorm and not last else None
            file, cls = ACTIVATIONS[activation]
            act = None if last else getattr(_impl(modules, file), cls)()
            self.blocks.append((lin, bn, act, residual and not last))

    def forward(self, x):
        h = x
        for lin, bn, act, residual in self.blocks:
            z = lin.forward(h)
            if bn is not None:
                z = bn.forward(z)
            a = act.forward(z) if act is not None else z
            h = h + a if residual else a
        return h

    def backward(self, g):
        """Returns the norm of the gradient reaching each Linear's output, first layer first."""
        norms = []
        for lin, bn, act, residual in reversed(self.blocks):
            d = act.backward(g) if act is not None else g
            if bn is not None:
                d = bn.backward(d)
            norms.append(float(np.linalg.norm(d)))
            dx = lin.backward(d)
            g = g + dx if residual else dx
        return np.array(norms[::-1])


def vanishing_task(modules: dict, scenario: Scenario) -> dict:
    p = scenario.params
    _REFERENCE_FILES.update(p.get("references", {}))
    net = _Net(modules, p["depth"], p["width"], p["activation"], p["init"], p["residual"], p["batchnorm"],
               np.random.default_rng(p["seed"]))
    with np.errstate(all="ignore"):
        net.forward(scenario["x"])
        norms = net.backward(scenario["upstream"])
    return {"norms": norms, "dW": np.array([float(np.linalg.norm(b[0].dW)) for b in net.blocks])}


def exploding_task(modules: dict, scenario: Scenario) -> dict:
    p = scenario.params
    _REFERENCE_FILES.update(p.get("references", {}))
    net = _Net(modules, p["depth"], p["width"], "relu", "he", False, False, np.random.default_rng(p["seed"]),
               gain=p["gain"], head=True)
    clip = _impl(modules, "clip_grad_norm").clip_grad_norm
    x, y = scenario["x"], scenario["y"]
    losses, norms = [], []
    with np.errstate(all="ignore"):
        for _ in range(p["steps"]):
            out = net.forward(x)
            losses.append(0.5 * float(np.mean(np.sum((out - y) ** 2, axis=1))))
            if not np.isfinite(losses[-1]):
                break
            net.backward((out - y) / len(x))
            grads = {}
            for i, (lin, _, _, _) in enumerate(net.blocks):
                grads[f"W{i}"], grads[f"b{i}"] = lin.dW, lin.db
            if p["clip"]:
                norms.append(float(clip(grads, p["max_norm"])))
            else:
                norms.append(float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))))
            for i, (lin, _, _, _) in enumerate(net.blocks):
                lin.W = lin.W - p["lr"] * grads[f"W{i}"]
                lin.b = lin.b - p["lr"] * grads[f"b{i}"]
    return {"losses": np.array(losses), "norms": np.array(norms)}
