"""What correct answers are: each exercise's computation in PyTorch float64 autograd.

The only module that imports torch, and only when a reference is first asked for, so the
worker and the CLI start without it. Each function takes a Scenario (the hidden inputs)
and returns the expected arrays by name.
"""
from __future__ import annotations

import numpy as np

from bpdrill.drivers import OPERATORS, apply_operator


def _torch():
    import torch  # lazy: about a second to import
    torch.set_default_dtype(torch.float64)
    return torch


def _leaf(torch, array, requires_grad=True):
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


def linear(s) -> dict:
    torch = _torch()
    a = s.arrays
    out = {}
    for suffix in ("", "2", "3"):
        if f"dout{suffix}" not in a:
            continue
        x = _leaf(torch, a["x3" if suffix == "3" else "x"])
        W, b = _leaf(torch, a["W"]), _leaf(torch, a["b"])
        y = x @ W + b
        y.backward(_leaf(torch, a[f"dout{suffix}"], False))
        out.update({f"out{suffix}": _np(y), f"dx{suffix}": _np(x.grad),
                    f"dW{suffix}": _np(W.grad), f"db{suffix}": _np(b.grad)})
    return out


def sigmoid(s) -> dict:
    torch = _torch()
    out = {}
    for suffix in ("", "2", "3"):
        if f"dout{suffix}" not in s.arrays:
            continue
        x = _leaf(torch, s.arrays["x3" if suffix == "3" else "x"])
        y = torch.sigmoid(x)
        y.backward(_leaf(torch, s.arrays[f"dout{suffix}"], False))
        out.update({f"out{suffix}": _np(y), f"dx{suffix}": _np(x.grad)})
    return out


def softmax_ce(s) -> dict:
    torch = _torch()
    out = {}
    for suffix in ("", "2", "3"):
        key = f"dout{suffix}"
        if suffix and key not in s.params:
            continue
        new = "3" if suffix == "3" else ""
        logits = _leaf(torch, s.arrays[f"logits{new}"])
        labels = torch.tensor(s.arrays[f"y{new}"], dtype=torch.long)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        (loss * s.params.get(key, 1.0)).backward()
        out.update({f"loss{suffix}": _np(loss), f"dlogits{suffix}": _np(logits.grad)})
    return out


def mlp_loss_and_grads(torch, a: dict):
    """Mean cross-entropy of the two-layer network and its parameter gradients."""
    params = {name: _leaf(torch, a[name]) for name in ("W1", "b1", "W2", "b2")}
    h = torch.sigmoid(_leaf(torch, a["X"], False) @ params["W1"] + params["b1"])
    scores = h @ params["W2"] + params["b2"]
    loss = torch.nn.functional.cross_entropy(scores, torch.tensor(a["y"], dtype=torch.long))
    loss.backward()
    grads = {name: _np(p.grad) for name, p in params.items()}
    return _np(loss), _np(torch.softmax(scores, dim=1)), grads


def mlp(s) -> dict:
    torch = _torch()
    loss, probs, grads = mlp_loss_and_grads(torch, s.arrays)
    if "X3" in s.arrays:  # the gradients after a new forward on (X3, y3)
        _, _, new = mlp_loss_and_grads(torch, {**s.arrays, "X": s.arrays["X3"], "y": s.arrays["y3"]})
        grads.update({f"{name}.new": g for name, g in new.items()})
    if s.mode == "train_step":  # the parameters after one step of gradient descent
        lr = s.params["lr"]
        return {"loss": loss, **{name: s.arrays[name] - lr * g for name, g in grads.items()}}
    return {"loss": loss, "probs": probs, **grads}


def adam(s) -> dict:
    """The parameters after s.params['steps'] steps of torch.optim.Adam."""
    torch = _torch()
    names = sorted(k[len("param."):] for k in s.arrays if k.startswith("param."))
    params = {name: _leaf(torch, s.arrays[f"param.{name}"]) for name in names}
    hyper = dict(s.params["hyper"])
    if "betas" in hyper:
        hyper["betas"] = tuple(hyper["betas"])
    optimizer = torch.optim.Adam(list(params.values()), foreach=False, **hyper)
    for t in range(s.params["steps"]):
        for name, p in params.items():
            p.grad = torch.tensor(s.arrays[f"grad.{t}.{name}"])
        optimizer.step()
    return {name: _np(p) for name, p in params.items()}


# ---- autograd programs ------------------------------------------------------------------

def run_program_numpy(program: dict, arrays: dict) -> np.ndarray:
    """The program's output computed with plain NumPy (no gradients): used for shapes."""
    env = {name: arrays[f"leaf.{name}"] for name in program["leaves"]}
    for target, op, args, kwargs in program["steps"]:
        a = env[args[0]]
        if op in OPERATORS:
            env[target] = apply_operator(env, op, args)
        elif op in ("sum", "mean"):
            env[target] = getattr(np, op)(a, axis=kwargs.get("axis"), keepdims=kwargs.get("keepdims", False))
        elif op == "transpose":
            env[target] = a.T
        elif op == "reshape":
            env[target] = a.reshape(kwargs["shape"])
        else:  # element-wise and log_softmax keep the shape
            env[target] = np.zeros_like(a)
    return np.asarray(env[program["output"]])


def _torch_op(torch, env, op, args, kwargs):
    if op in OPERATORS:
        return apply_operator(env, op, args)
    a = env[args[0]]
    if op in ("sum", "mean"):
        axis, keepdims = kwargs.get("axis"), kwargs.get("keepdims", False)
        if axis is None:
            r = getattr(a, op)()
            return r.reshape([1] * a.dim()) if keepdims else r
        return getattr(a, op)(dim=axis, keepdim=keepdims)
    if op == "log_softmax":
        return torch.log_softmax(a, dim=kwargs.get("axis", -1))
    if op == "transpose":
        return a.T
    if op == "reshape":
        return a.reshape(kwargs["shape"])
    return getattr(torch, op)(a)  # exp, log, relu, sigmoid, tanh


def autograd(s) -> dict:
    """Output, leaf gradients and requires_grad of every step, computed by PyTorch."""
    torch = _torch()
    program = s.params["program"]
    env, leaves = {}, {}
    for name, spec in program["leaves"].items():
        data = s.arrays[f"leaf.{name}"]
        if spec["kind"] in ("tensor", "int_tensor"):
            env[name] = leaves[name] = _leaf(torch, data, spec["requires_grad"])
        elif spec["kind"] == "array":
            env[name] = _leaf(torch, data, False)
        else:
            env[name] = float(data)
    for target, op, args, kwargs in program["steps"]:
        env[target] = _torch_op(torch, env, op, args, kwargs)
    output = env[program["output"]]
    grad = _leaf(torch, s.arrays["grad"], False) if "grad" in s.arrays else None
    calls = program.get("backward_calls", 1)
    for i in range(calls):
        output.backward(grad, retain_graph=i < calls - 1)
    return {
        "output": _np(output),
        "grads": {name: _np(t.grad) for name, t in leaves.items() if t.requires_grad},
        "requires_grad": {target: bool(env[target].requires_grad) for target, *_ in program["steps"]},
    }


def for_exercise(name: str):
    """The reference function of an exercise: Scenario -> dict of expected values."""
    return globals()[name]
