"""What the worker does with a learner's module, per exercise: call it, return raw values.

Runs only inside the worker process. Every function takes the learner's module and a
scenario (fresh copies of the grader's input arrays, plus plain parameters) and returns
a dict of raw results. Nothing here judges: the trusted side compares.
"""
from __future__ import annotations

import operator

import numpy as np

from bpdrill.i18n import t


class Scenario:
    """One run's inputs: arrays (fresh copies for the learner) and plain parameters."""

    def __init__(self, name: str, mode: str, arrays: dict, params: dict):
        self.name, self.mode, self.params = name, mode, params
        self._arrays = arrays

    def __getitem__(self, key: str) -> np.ndarray:
        return self._arrays[key].copy()  # a fresh copy each time: inputs stay pristine

    def __contains__(self, key: str) -> bool:
        return key in self._arrays

    def keys_with_prefix(self, prefix: str) -> list[str]:
        return sorted(k[len(prefix):] for k in self._arrays if k.startswith(prefix))


def snapshot(value):
    """The value as it is now (later calls may modify arrays the learner returned)."""
    return value.copy() if isinstance(value, np.ndarray) else value


def perturbed_outputs(forward, array: np.ndarray, h: float):
    """Outputs of forward() with each element of array moved by +h and by -h, in turn.

    array is modified in place and restored; forward must read it. Returns two stacks
    of shape (array.size, *output shape): plus and minus.
    """
    flat = array.reshape(-1)  # a view: writing flat writes array
    plus, minus = [], []
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus.append(np.array(forward(), dtype=np.float64))
        flat[i] = old - h
        minus.append(np.array(forward(), dtype=np.float64))
        flat[i] = old
    return np.stack(plus), np.stack(minus)


def number(value, what: str) -> float:
    """value as a float, or a TypeError that says what came back instead."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number, np.ndarray)):
        raise TypeError(t("{what} returned {type}; expected a float", what=what, type=type(value).__name__))
    if isinstance(value, np.ndarray) and value.size != 1:
        raise TypeError(t("{what} returned an array of shape {shape}; expected a float", what=what,
                          shape=value.shape))
    return float(value)


# ---- linear ---------------------------------------------------------------------------

def linear(module, s: Scenario) -> dict:
    W, b = s["W"], s["b"]
    layer = module.Linear(*W.shape)
    layer.W, layer.b = W, b
    if s.mode == "perturb":
        x = s["x"]
        out = {}
        for name, array in (("x", x), ("W", W), ("b", b)):
            out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(
                lambda: layer.forward(x), array, s.params["h"])
        return out
    x, dout = s["x"], s["dout"]
    out = {"out": snapshot(layer.forward(x))}
    out["dx"] = snapshot(layer.backward(dout))
    out["dW"], out["db"] = snapshot(layer.dW), snapshot(layer.db)
    if "dout2" in s:
        out["dx2"] = snapshot(layer.backward(s["dout2"]))
        out["dW2"], out["db2"] = snapshot(layer.dW), snapshot(layer.db)
    if "x3" in s:  # a new forward: backward must use this input, not a stale one
        layer.forward(s["x3"])
        out["dx3"] = snapshot(layer.backward(s["dout3"]))
        out["dW3"], out["db3"] = snapshot(layer.dW), snapshot(layer.db)
    out.update({"after.x": x, "after.W": W, "after.b": b, "after.dout": dout})
    return out


# ---- sigmoid --------------------------------------------------------------------------

def sigmoid(module, s: Scenario) -> dict:
    act = module.Sigmoid()
    x = s["x"]
    if s.mode == "perturb":
        plus, minus = perturbed_outputs(lambda: act.forward(x), x, s.params["h"])
        return {"plus.x": plus, "minus.x": minus}
    dout = s["dout"]
    out = {"out": snapshot(act.forward(x))}
    out["dx"] = snapshot(act.backward(dout))
    if "dout2" in s:
        out["dx2"] = snapshot(act.backward(s["dout2"]))
    if "x3" in s:
        act.forward(s["x3"])
        out["dx3"] = snapshot(act.backward(s["dout3"]))
    out.update({"after.x": x, "after.dout": dout})
    return out


# ---- softmax_ce -----------------------------------------------------------------------

def softmax_ce(module, s: Scenario) -> dict:
    loss_fn = module.SoftmaxCrossEntropy()
    logits, y = s["logits"], s["y"].astype(np.int64)
    if s.mode == "perturb":
        plus, minus = perturbed_outputs(lambda: loss_fn.forward(logits, y), logits, s.params["h"])
        return {"plus.logits": plus, "minus.logits": minus}
    out = {"loss": snapshot(loss_fn.forward(logits, y))}
    dout = s.params.get("dout")
    out["dlogits"] = snapshot(loss_fn.backward() if dout is None else loss_fn.backward(dout))
    if "dout2" in s.params:
        out["dlogits2"] = snapshot(loss_fn.backward(s.params["dout2"]))
    if "logits3" in s:
        loss_fn.forward(s["logits3"], s["y3"].astype(np.int64))
        out["dlogits3"] = snapshot(loss_fn.backward(s.params["dout3"]))
    out.update({"after.logits": logits, "after.y": y})
    return out


# ---- mlp ------------------------------------------------------------------------------

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _mlp_model(module, s: Scenario):
    params = {name: s[name] for name in PARAM_NAMES}
    D, H = params["W1"].shape
    C = params["W2"].shape[1]
    model = module.TwoLayerMLP(D, H, C)
    for name, array in params.items():
        model.params[name] = array
    return model, params


def mlp(module, s: Scenario) -> dict:
    model, params = _mlp_model(module, s)
    X, y = s["X"], s["y"].astype(np.int64)
    if s.mode == "perturb":
        out = {}
        for name, array in params.items():
            out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(
                lambda: model.forward(X), array, s.params["h"])
        return out
    if s.mode == "backward":
        out = {"probs": snapshot(model.forward(X))}
        grads = model.backward(y)
        if not isinstance(grads, dict):
            raise TypeError(t("backward returned {type}; expected a dict of gradients", type=type(grads).__name__))
        out.update({name: snapshot(grads.get(name)) for name in PARAM_NAMES})
        if s.params.get("twice"):
            grads = model.backward(y)
            out.update({f"{name}.again": snapshot(grads.get(name)) for name in PARAM_NAMES})
        if "X3" in s:
            model.forward(s["X3"])
            grads = model.backward(s["y3"].astype(np.int64))
            out.update({f"{name}.new": snapshot(grads.get(name)) for name in PARAM_NAMES})
        out.update({"after.X": X, "after.y": y})
        return out
    if s.mode == "loss":
        result = model.loss(X, y)
        if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[1], dict):
            raise TypeError(t("loss returned {type}; expected (loss, grads)", type=type(result).__name__))
        out = {"loss": number(result[0], "loss")}
        out.update({name: snapshot(result[1].get(name)) for name in PARAM_NAMES})
        return out
    if s.mode == "train_step":
        loss = number(model.train_step(X, y, lr=s.params["lr"]), "train_step")
        out = {"loss": loss}
        out.update({name: params[name] for name in PARAM_NAMES})  # the grader's arrays
        out.update({f"model.{name}": snapshot(model.params.get(name)) for name in PARAM_NAMES})
        return out
    if s.mode == "train":
        losses = [number(model.train_step(X, y, lr=s.params["lr"]), "train_step")
                  for _ in range(s.params["steps"])]
        return {"losses": np.array(losses), "probs": snapshot(model.forward(X))}
    raise ValueError(f"unknown mlp mode {s.mode}")


# ---- adam -----------------------------------------------------------------------------

def adam(module, s: Scenario) -> dict:
    names = s.keys_with_prefix("param.")
    params = {name: s[f"param.{name}"] for name in names}
    held = dict(params)  # the caller's references: step must update these arrays in place
    optimizer = module.Adam(params, **s.params["hyper"])
    out = {}
    for step in range(s.params["steps"]):  # not `t`: that name is the message function
        grads = {name: s[f"grad.{step}.{name}"] for name in names}
        optimizer.step(grads)
        out.update({f"grad_after.{step}.{name}": g for name, g in grads.items()})
    out.update({f"param.{name}": held[name] for name in names})
    learner_view = getattr(optimizer, "params", None)
    if isinstance(learner_view, dict):
        out.update({f"view.{name}": snapshot(learner_view.get(name)) for name in names})
    return out


# ---- autograd -------------------------------------------------------------------------

def run_program(Tensor, program: dict, leaves: dict):
    """Execute a graph program with the learner's Tensor. Returns (env, output)."""
    env = {}
    for name, spec in program["leaves"].items():
        data = leaves[name]
        if spec["kind"] == "tensor":
            env[name] = Tensor(data, requires_grad=spec["requires_grad"])
        elif spec["kind"] == "int_tensor":
            env[name] = Tensor(data.astype(np.int64), requires_grad=spec["requires_grad"])
        elif spec["kind"] == "array":
            env[name] = data
        else:  # a Python number
            env[name] = float(data)
    for target, op, args, kwargs in program["steps"]:
        env[target] = apply_op(env, op, args, kwargs)
    return env, env[program["output"]]


# Steps written with Python's own operators: the same code runs on the learner's Tensor here
# and on torch tensors or NumPy arrays in bpdrill.reference.
BINARY_OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
              "div": operator.truediv, "matmul": operator.matmul}
OPERATORS = {*BINARY_OPS, "neg", "pow", "T"}


def apply_operator(env: dict, op: str, args: list):
    """A step in OPERATORS: a + b, a - b, a * b, a / b, a @ b, -a, a ** p, a.T."""
    a = env[args[0]]
    if op in BINARY_OPS:
        return BINARY_OPS[op](a, env[args[1]])
    return {"neg": lambda: -a, "pow": lambda: a ** args[1], "T": lambda: a.T}[op]()


def apply_op(env: dict, op: str, args: list, kwargs: dict):
    """One step of a program: Python operators and Tensor methods, as a learner would write."""
    if op in OPERATORS:
        return apply_operator(env, op, args)
    a = env[args[0]]
    if op == "reshape":
        return a.reshape(*kwargs["shape"])
    return getattr(a, op)(**kwargs)  # sum, mean, exp, log, relu, sigmoid, tanh, log_softmax, transpose


def autograd(module, s: Scenario) -> dict:
    Tensor = module.Tensor
    program = s.params["program"]
    leaves = {name: s[f"leaf.{name}"] for name in program["leaves"]}
    if s.mode == "perturb":
        def forward():  # reads the leaf arrays, which perturbed_outputs moves in place
            return run_program(Tensor, program, leaves)[1].data

        out = {}
        for name, spec in program["leaves"].items():
            if spec.get("requires_grad"):
                out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(
                    forward, leaves[name], s.params["h"])
        return out
    env, output = run_program(Tensor, program, leaves)
    grad = s["grad"] if "grad" in s else None
    for _ in range(program.get("backward_calls", 1)):
        output.backward() if grad is None else output.backward(grad)
    out = {"output": snapshot(getattr(output, "data", None))}
    for name, spec in program["leaves"].items():
        if spec["kind"] in ("tensor", "int_tensor"):
            out[f"grad.{name}"] = snapshot(env[name].grad)
            out[f"data_dtype.{name}"] = str(getattr(env[name].data, "dtype", type(env[name].data).__name__))
    for target, *_ in program["steps"]:
        value = env[target]
        out[f"is_tensor.{target}"] = isinstance(value, Tensor)
        out[f"requires_grad.{target}"] = bool(getattr(value, "requires_grad", False))
    return out


DRIVERS = {"linear": linear, "sigmoid": sigmoid, "softmax_ce": softmax_ce, "mlp": mlp,
           "adam": adam, "autograd": autograd}
