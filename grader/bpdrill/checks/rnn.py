"""Hidden checks for rnn: h_t = tanh(x_t Wx + h_{t-1} Wh + b) over a sequence; backpropagation
through time: dx, dh0, dWx, dWh, db."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

GRADS = ("dx", "dh0", "dWx", "dWh", "db")
PARAMS = ("dWx", "dWh", "db")


def _torch_rnn(torch, x, h0, Wx, Wh, b):
    """torch.nn.RNN (tanh, batch first) run with weight_ih = Wx^T, weight_hh = Wh^T, bias_ih = b
    and bias_hh = 0 (PyTorch adds the two biases), so that the gradients reach Wx, Wh and b."""
    rnn = torch.nn.RNN(Wx.shape[0], Wx.shape[1], batch_first=True)
    weights = {"weight_ih_l0": Wx.T, "weight_hh_l0": Wh.T, "bias_ih_l0": b, "bias_hh_l0": torch.zeros_like(b)}
    hs, _ = torch.func.functional_call(rnn, weights, (x, h0[None]))
    return hs


SPEC = layer.Layer("RNN", _torch_rnn, inputs=("x", "h0"), params=("Wx", "Wh", "b"), outputs=("hs",),
                   numgrad=("dx", "dWh"), numgrad_points={"dx": 2},
                   make=lambda module, s: module.RNN(*s["Wx"].shape))


def _case(rng, n, steps, d, h, calls=1, last_only=False):
    """x, h0, the weights and dhs. Wh ~ N(0, 1/H): the gradient through h lives for several steps."""
    a = {"x": rng.normal(size=(n, steps, d)), "h0": rng.uniform(-1, 1, size=(n, h)),
         "Wx": rng.normal(size=(d, h)) / np.sqrt(d), "Wh": rng.normal(size=(h, h)) / np.sqrt(h),
         "b": 0.3 * rng.normal(size=h), "dhs": rng.normal(size=(n, steps, h))}
    if last_only:  # the loss sees only the last state: every other step's gradient comes through Wh
        a["dhs"][:, :-1] = 0.0
    if calls > 1:
        second = {"dhs": rng.normal(size=(n, steps, h))}
        new = {"x": rng.normal(size=(n, steps, d)), "h0": rng.uniform(-1, 1, size=(n, h))}
        a = layer.twice(a, second, new, {"dhs": rng.normal(size=(n, steps, h))})
    return a


def scenarios(rng) -> list[Scenario]:
    n, d, h = (int(v) for v in rng.permutation(range(2, 5)))  # N, D, H all different
    steps = int(rng.integers(6, 8))  # T >= 6: the hidden-to-hidden gradient matters
    basic = _case(rng, n, steps, d, h)  # x and Wh perturbed: at most 4*7*3 + 16 = 100 elements
    basic = Scenario("basic", "backward", basic)
    return [
        basic, layer.perturb(basic, ("x", "Wh")),
        Scenario("last", "backward", _case(rng, n, steps, d, h, last_only=True)),
        Scenario("single", "backward", _case(rng, 1, steps, d, h)),
        Scenario("twice", "backward", _case(rng, n, steps, d, h, calls=3)),
    ]


CHECKS = layer.checks(SPEC, "basic", "{key} matches PyTorch (nn.RNN, T >= 6)",
                      single=None, extra=(
    Check("edge.last_step", "edge", GRADS, 1, "last", matches_reference(*GRADS),
          "a loss on the last state only: the gradient flows back through every step"),
    Check("edge.single", "edge", GRADS, 1, "single", matches_reference(*GRADS), "batch of one")))


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

def _bptt(x, h0, Wx, Wh, b, dhs, drop_next=False, local="output", back="Wh.T", dWh_from="h_prev",
          wrap=False, dh0_from="h0"):
    """BPTT in NumPy with one known mistake switched on: returns dx, dh0, dWx, dWh, db and the
    per-step terms of the parameter gradients ("steps": {name: [term at t = 0, 1, ...]})."""
    N, T, _ = x.shape
    hs, pre, h = np.empty((N, T, Wh.shape[0])), np.empty((N, T, Wh.shape[0])), h0
    for k in range(T):
        pre[:, k] = x[:, k] @ Wx + h @ Wh + b
        h = hs[:, k] = np.tanh(pre[:, k])
    dx = np.empty_like(x)
    grads = {"dWx": np.zeros_like(Wx), "dWh": np.zeros_like(Wh), "db": np.zeros_like(b)}
    steps = {name: [None] * T for name in grads}
    dh_next = np.zeros_like(h0)
    dh = dh_next
    for k in reversed(range(T)):
        h_prev = hs[:, k - 1] if k > 0 or wrap else h0
        dh = dhs[:, k] + (0.0 if drop_next else dh_next)
        derivative = {"output": 1 - hs[:, k] ** 2, "tanh_of_output": 1 - np.tanh(hs[:, k]) ** 2,
                      "preactivation": 1 - pre[:, k] ** 2}[local]
        da = dh * derivative
        dx[:, k] = da @ Wx.T
        terms = {"dWx": x[:, k].T @ da, "dWh": (hs[:, k] if dWh_from == "h_t" else h_prev).T @ da,
                 "db": da.sum(axis=0)}
        for name, term in terms.items():
            steps[name][k] = term
            grads[name] = grads[name] + term
        dh_next = da @ (Wh if back == "Wh" else Wh.T)
    return {"dx": dx, "dh0": dh if dh0_from == "h1" else dh_next, **grads, "steps": steps}


def _call(p):
    """(x, h0, dhs) of the call the check is about."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], a["h0"], a["dhs"]


def _grads(p, **mistake) -> dict:
    x, h0, dhs = _call(p)
    a = p.inputs
    return _bptt(x, h0, a["Wx"], a["Wh"], a["b"], dhs, **mistake)


def _variant(evidence, labels=GRADS, **mistake):
    return formula(evidence, lambda p: _grads(p, **mistake)[p.label] if p.label in labels else None)


def _accumulated(p):
    """A parameter gradient of a later call = what the previous call left + this call's gradient."""
    if p.check.call == "first" or p.label not in PARAMS or p.got is None or p.expected is None:
        return None
    previous = p.learner(p.scenario, p.label + ("2" if p.check.call == "new_forward" else ""))
    if previous is None or close(previous, 0 * previous) or not close(p.got, previous + p.expected):
        return None
    return {"evidence": t("after this backward, {label} = its value after the previous call + "
                          "this call's gradient", label=p.label)}


def _one_step(p):
    """A parameter gradient that holds one time step's term instead of the sum over time."""
    if p.label not in PARAMS or p.got is None:
        return None
    terms = _grads(p)["steps"][p.label]
    for t_, term in enumerate(terms):
        if close(p.got, term) and not (p.expected is not None and close(p.expected, term)):
            return {"evidence": t("{label} equals the term of step t = {t} alone", label=p.label, t=t_)}
    return None


MISTAKES = [
    Mistake("accumulated_not_overwritten", "{label} grew across calls: {evidence}. Start each "
            "backward from zeros (dW = np.zeros_like(W)) and assign self.{label} at the end",
            _accumulated),
    Mistake("bptt_drops_next_step", "backpropagation through time dropped the gradient that "
            "reaches h_t from step t + 1: {evidence}. h_t feeds the loss and the next step: "
            "dh = dhs[:, t] + dh_next, with dh_next = da @ Wh.T carried from step t + 1",
            _variant("got equals the sum of one-step gradients, each step seeing only its own dhs[:, t]",
                     drop_next=True), at_code=r"dhs\[.*\+|\+\s*dh_next"),
    Mistake("Wh_not_transposed", "the gradient passed back to h_{{t-1}} used Wh where Wh.T belongs: "
            "{evidence}. h_t = tanh(... + h_{{t-1}} @ Wh), so dh_prev = da @ Wh.T (Wh is square, so "
            "the shapes cannot tell)",
            _variant("got equals BPTT with dh_next = da @ Wh", back="Wh"), at_code=r"@\s*(self\.)?Wh"),
    Mistake("derivative_on_preactivation", "the tanh derivative was taken on the pre-activation "
            "a_t instead of the output h_t: {evidence}. Use the cached output: da = dh * (1 - h_t**2)",
            _variant("got equals BPTT with da = dh * (1 - a_t**2), a_t = x_t Wx + h_{t-1} Wh + b",
                     local="preactivation"), at_code=r"1(\.0)?\s*-|tanh"),
    Mistake("tanh_of_cached_output", "tanh was applied again to the cached output h_t, which "
            "already is a tanh: {evidence}. Use h_t itself: da = dh * (1 - h_t**2)",
            _variant("got equals BPTT with da = dh * (1 - tanh(h_t)**2)", local="tanh_of_output"),
            at_code=r"1(\.0)?\s*-|tanh"),
    Mistake("dWh_uses_current_h", "dWh was built from the state step t produced, h_t, not the "
            "one that went into it, h_{{t-1}}: {evidence}. dWh += h_prev.T @ da, with h_prev = h0 at "
            "the first step",
            _variant("got dWh = sum over t of h_t.T @ da_t", labels=("dWh",), dWh_from="h_t"), at_code=r"dWh\s*\+?="),
    Mistake("h_prev_wraps_around", "at the first step the previous state was taken as hs[:, -1] "
            "(the last state) instead of h0: {evidence}. At t = 0, h_prev is h0",
            _variant("got equals BPTT with h_prev = hs[:, t - 1] at every step, also at t = 0",
                     labels=("dWh",), wrap=True), at_code=r"h_prev\s*=|hs\[:,\s*t\s*-\s*1\]"),
    Mistake("dh0_off_by_one_step", "dh0 is the gradient of h_1, one step too late: {evidence}. "
            "Go back through the first step as well: dh0 = da_1 @ Wh.T",
            _variant("got equals dL/dh_1 = dhs[:, 0] + (the gradient from step 2)", labels=("dh0",),
                     dh0_from="h1")),
    Mistake("not_summed_over_time", "{label} holds one time step's share instead of the sum over "
            "every step: {evidence}. The weights are shared by all steps: add each step's term "
            "(+=), do not assign it", _one_step),
]
