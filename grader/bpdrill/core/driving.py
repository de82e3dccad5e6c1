"""Helpers for an exercise's `drive`: what the worker does with the learner's module.

Runs only inside the worker process. Nothing here judges: the trusted side compares.
"""
from __future__ import annotations

import numpy as np

from bpdrill.i18n import t


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


def raised(make) -> str:
    """The name of the exception make() raised, or "no exception"."""
    try:
        make()
    except Exception as exc:  # noqa: BLE001 - which exception, if any, is the answer
        return type(exc).__name__
    return "no exception"


def number(value, what: str) -> float:
    """value as a float, or a TypeError that says what came back instead."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number, np.ndarray)):
        raise TypeError(t("{what} returned {type}; expected a float", what=what, type=type(value).__name__))
    if isinstance(value, np.ndarray) and value.size != 1:
        raise TypeError(t("{what} returned an array of shape {shape}; expected a float", what=what,
                          shape=value.shape))
    return float(value)


def drive_layer(layer, s) -> dict:
    """A layer with forward(x) -> out and backward(dout) -> dx (an activation): the first
    backward, a second one with dout2, one after a new forward on x3, the inputs afterwards
    (for purity), or in "perturb" mode the forward's outputs around x."""
    x = s["x"]
    if s.mode == "perturb":
        plus, minus = perturbed_outputs(lambda: layer.forward(x), x, s.params["h"])
        return {"plus.x": plus, "minus.x": minus}
    dout = s["dout"]
    out = {"out": snapshot(layer.forward(x))}
    out["dx"] = snapshot(layer.backward(dout))
    if "dout2" in s:
        out["dx2"] = snapshot(layer.backward(s["dout2"]))
    if "x3" in s:  # a new forward: backward must use this input, not a stale one
        layer.forward(s["x3"])
        out["dx3"] = snapshot(layer.backward(s["dout3"]))
    out.update({"after.x": x, "after.dout": dout})
    return out


def drive_loss(loss_fn, s, x: str, y: str, grad: str, labels=None) -> dict:
    """A loss with forward(x, y) -> float and backward(dout=1.0) -> grad of x (mse, BCE, softmax
    cross-entropy): the first backward (with params["dout"], or the default), a second with
    dout2, one after a new forward on x3, y3, the inputs afterwards, or in "perturb" mode the
    losses around x. labels converts y as the learner receives it (class indices: int64)."""
    convert = labels or (lambda a: a)
    xs, ys = s[x], convert(s[y])
    if s.mode == "perturb":
        plus, minus = perturbed_outputs(lambda: loss_fn.forward(xs, ys), xs, s.params["h"])
        return {f"plus.{x}": plus, f"minus.{x}": minus}
    out = {"loss": snapshot(loss_fn.forward(xs, ys))}
    dout = s.params.get("dout")
    out[grad] = snapshot(loss_fn.backward() if dout is None else loss_fn.backward(dout))
    if "dout2" in s.params:
        out[f"{grad}2"] = snapshot(loss_fn.backward(s.params["dout2"]))
    if f"{x}3" in s:
        loss_fn.forward(s[f"{x}3"], convert(s[f"{y}3"]))
        out[f"{grad}3"] = snapshot(loss_fn.backward(s.params["dout3"]))
    out.update({f"after.{x}": xs, f"after.{y}": ys})
    return out
