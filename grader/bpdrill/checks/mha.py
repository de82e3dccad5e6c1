"""Hidden checks for mha: multi-head self-attention with projections Wq, Wk, Wv, Wo and
biases; dx and the eight parameter gradients, causal and not, a batch of one, T = 1.

The layer's configuration (heads, causal) is a scenario parameter. bk is set apart from the
standard parameters because nothing depends on it: a key bias adds q . bk to every score of a
row, which the softmax ignores, so dbk is exactly 0 (checked as such: a comparison with
PyTorch's rounding noise would be meaningless) and the PyTorch call leaves it out."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bpdrill.core.diagnose import Mistake, formula, variants
from bpdrill.core.driving import snapshot
from bpdrill.core.judge import Check, Failed, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer


def _make(module, s):
    obj = module.MultiHeadAttention(s["x"].shape[-1], s.params["heads"], causal=s.params["causal"])
    obj.bk = s["bk"]
    return obj


def _torch(torch, x, Wq, Wk, Wv, Wo, bq, bv, bo, heads, causal):
    N, T, D = x.shape
    split = lambda a: a.reshape(N, T, heads, D // heads).transpose(1, 2)  # noqa: E731
    q, k, v = split(x @ Wq + bq), split(x @ Wk), split(x @ Wv + bv)
    S = q @ k.transpose(-2, -1) / (D // heads) ** 0.5
    if causal:
        S = S.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    merged = (torch.softmax(S, dim=-1) @ v).transpose(1, 2).reshape(N, T, D)
    return merged @ Wo + bo


SPEC = layer.Layer("MultiHeadAttention", _torch, params=("Wq", "Wk", "Wv", "Wo", "bq", "bv", "bo"),
                   make=_make, options=("heads", "causal"))


def _draw(rng, n, t, d):
    a = {"x": rng.normal(size=(n, t, d)), "dout": rng.normal(size=(n, t, d))}
    a.update({w: rng.normal(size=(d, d)) / np.sqrt(d) for w in ("Wq", "Wk", "Wv", "Wo")})
    a.update({b: rng.normal(size=d) for b in ("bq", "bk", "bv", "bo")})
    return a


def scenarios(rng) -> list[Scenario]:
    d, heads = [(4, 2), (6, 2), (6, 3), (8, 2), (8, 4)][int(rng.integers(5))]
    t_len = int(rng.integers(3, 6))
    causal = {"heads": heads, "causal": True}
    found = layer.standard(SPEC, lambda rng, n: _draw(rng, n, t_len, d), rng, int(rng.integers(2, 4)))
    return [*(replace(s, params={**s.params, **causal}) for s in found),
            Scenario("bidirectional", "backward", _draw(rng, 2, t_len + 1, d), {"heads": heads, "causal": False}),
            Scenario("one_step", "backward", _draw(rng, 2, 1, d), causal)]


def drive(module, s: Scenario) -> dict:
    made = []
    out = layer.drive(replace(SPEC, make=lambda m, sc: made.append(_make(m, sc)) or made[-1]), module, s)
    if s.mode != "perturb":
        out["dbk"] = snapshot(made[0].dbk)
    return out


def _dbk_zero(ev, check):
    got = ev.array(check.scenario, "dbk")
    shape = ev.inputs(check.scenario)["bk"].shape
    if got.shape != shape:
        raise Failed(t("{name}: expected shape {expected}, got {got}", name="dbk", expected=shape,
                       got=got.shape), target="dbk", got=got)
    ref = ev.reference(check.scenario)
    if np.abs(got).max() > 1e-9 * max(np.abs(ref["dbq"]).max(), np.abs(ref["dbv"]).max()):
        raise Failed(t("dbk: expected zeros (a key bias adds q . bk to every score of a row, which the "
                       "softmax ignores), got a largest |dbk| of {value:.2g}", value=np.abs(got).max()),
                     target="dbk", got=got, expected=np.zeros(shape))


CHECKS = layer.checks(SPEC, "basic", "{key} matches PyTorch (causal)", extra=(
    Check("edge.bidirectional", "edge", tuple(SPEC.grads), 1, "bidirectional",
          matches_reference(*SPEC.grads), "not causal: every gradient matches PyTorch"),
    Check("edge.one_step", "edge", tuple(SPEC.grads), 1, "one_step", matches_reference(*SPEC.grads),
          "a sequence of one position (T = 1)"),
    Check("edge.dbk", "edge", "dbk", 1, "basic", _dbk_zero, "dbk is zero: a key bias never changes the output")))


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

def _grads(a, conf, merge_t=True, scale="dh", mask=True, row_sum=True, paths=3) -> dict:
    """Every gradient with one known mistake switched on."""
    x, dout = a["x"], a["dout"]
    N, T, D = x.shape
    h = conf["heads"]
    split = lambda m: m.reshape(N, T, h, D // h).transpose(0, 2, 1, 3)  # noqa: E731
    q, k, v = split(x @ a["Wq"] + a["bq"]), split(x @ a["Wk"] + a["bk"]), split(x @ a["Wv"] + a["bv"])
    S = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D // h)
    if conf["causal"] and mask:
        S = np.where(np.triu(np.ones((T, T), dtype=bool), 1), -np.inf, S)
    P = np.exp(S - S.max(axis=-1, keepdims=True))
    P /= P.sum(axis=-1, keepdims=True)
    merge = (lambda m: m.transpose(0, 2, 1, 3).reshape(N * T, D)) if merge_t else (lambda m: m.reshape(N * T, D))
    dctx = split(dout @ a["Wo"].T)
    dP = dctx @ v.transpose(0, 1, 3, 2)
    dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True)) if row_sum else P * dP
    dS = dS / np.sqrt(D // h if scale == "dh" else D)
    dq, dk, dv = merge(dS @ k), merge(dS.transpose(0, 1, 3, 2) @ q), merge(P.transpose(0, 1, 3, 2) @ dctx)
    x2 = x.reshape(-1, D)
    dx = sum(g @ a[w].T for g, w in list(zip((dq, dk, dv), ("Wq", "Wk", "Wv")))[:paths])
    return {"dx": dx.reshape(N, T, D), "dWq": x2.T @ dq, "dWk": x2.T @ dk, "dWv": x2.T @ dv,
            "dbq": dq.sum(0), "dbv": dv.sum(0)}


def _variant(evidence, **mistake):
    def candidate(p):
        return _grads(layer.call_arrays(SPEC, p), p.ev.params(p.scenario), **mistake).get(p.label)
    return formula(evidence, candidate)


def _bias_per_position(p):
    """A bias gradient summed over the batch only: (T, D), and its sum over T is right."""
    if p.got is None or p.expected is None or p.label not in ("dbq", "dbv", "dbo", "dbk"):
        return None
    x = p.inputs["x"]
    if p.got.shape == x.shape[1:] and p.got.shape != p.expected.shape and \
            np.allclose(p.got.sum(axis=0), p.expected, rtol=1e-7, atol=1e-9 * np.abs(p.expected).max()):
        return {"evidence": t("{label} has shape {got}, and summed over the positions it is right",
                              label=p.label, got=p.got.shape)}
    return None


MISTAKES = [
    *variants(_variant, {
        "heads_merged_without_transpose": ("the heads' gradients were merged back with reshape(N, T, D) "
                                           "alone: {evidence}. The split was reshape then transpose(0, 2, 1, "
                                           "3): undo it with transpose(0, 2, 1, 3) first, then reshape",
                                           "got equals the gradient with the transpose left out of the merge",
                                           {"merge_t": False}),
        "scale_sqrt_d_model": ("the scores were scaled by 1 / sqrt(D) in backward: {evidence}. Each head's "
                               "scores are q k^T / sqrt(D // h): the head size, not the model width",
                               "got equals the gradient with 1 / sqrt(D) in place of 1 / sqrt(D // h)",
                               {"scale": "D"}),
        "causal_mask_ignored_in_backward": ("backward used attention weights without the causal mask, so "
                                            "gradient leaks to future positions: {evidence}. Use the P "
                                            "forward cached (future weights exactly 0)",
                                            "got equals the gradients of the same layer without its mask",
                                            {"mask": False}),
        "softmax_backward_missing_sum_term": ("the softmax backward lacks its row-sum term: {evidence}. dS = "
                                              "P * (dP - (dP * P).sum(axis=-1, keepdims=True))",
                                              "got equals the gradient with dS = P * dP", {"row_sum": False}),
        "dx_missing_projection_paths": ("dx holds only the path through q: {evidence}. x feeds q, k and v, "
                                        "so dx = dq Wq^T + dk Wk^T + dv Wv^T", "got equals dq @ Wq.T alone",
                                        {"paths": 1}),
    }),
    Mistake("bias_not_summed_over_positions", "{label} was summed over the batch but not over the "
            "positions: {evidence}. The bias is added at every (n, t): sum over axes (0, 1)",
            _bias_per_position),
]
