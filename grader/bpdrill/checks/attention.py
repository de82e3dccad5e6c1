"""Hidden checks for attention: out = softmax(Q K^T / sqrt(d), masked) V; dQ, dK, dV."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula, in_backward
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

GRADS = ("dQ", "dK", "dV")
# a new forward comes without the mask: the kind passes None for a fixed array with no "3" version
SPEC = layer.Layer("ScaledDotProductAttention", lambda torch, Q, K, V, mask:
                   torch.nn.functional.scaled_dot_product_attention(Q, K, V, attn_mask=mask),
                   inputs=("Q", "K", "V"), fixed=("mask",), batch="Q")


def _causal(tq, tk):
    """(Tq, Tk) bool: query q may attend to keys 0..q (row 0 to key 0 alone: every row has a True)."""
    return np.arange(tk)[None, :] <= np.arange(tq)[:, None]


def _case(rng, n, tq, tk, d, dv, mask=True, calls=1):
    a = {"Q": rng.normal(size=(n, tq, d)), "K": rng.normal(size=(n, tk, d)), "V": rng.normal(size=(n, tk, dv)),
         "dout": rng.normal(size=(n, tq, dv))}
    if mask:
        a["mask"] = _causal(tq, tk)
    if calls > 1:  # a second backward, then a new forward without the mask
        a = layer.twice(a, {"dout": rng.normal(size=(n, tq, dv))},
                        {"Q": rng.normal(size=(n, tq, d)), "K": rng.normal(size=(n, tk, d)),
                         "V": rng.normal(size=(n, tk, dv))}, {"dout": rng.normal(size=(n, tq, dv))})
    return a


def scenarios(rng) -> list[Scenario]:
    tq, tk, d, dv = (int(v) for v in rng.permutation(range(2, 7))[:4])  # Tq != Tk, d >= 2
    basic = _case(rng, 2, tq, tk, d, dv)  # Q, K, V perturbed: at most 2 * 6 * 5 * 3 = 180 elements
    k = int(rng.integers(3, 6))
    basic = Scenario("basic", "backward", basic)
    return [
        basic, layer.perturb(basic),
        Scenario("nomask", "backward", _case(rng, 3, tk, tq, dv, d, mask=False)),
        Scenario("square", "backward", _case(rng, 2, k, k, d, dv)),
        Scenario("single", "backward", _case(rng, 1, tq, tk, d, dv)),
        Scenario("twice", "backward", _case(rng, 2, tq, tk, d, dv, calls=3)),
    ]


CHECKS = layer.checks(SPEC, "basic", "{key} matches PyTorch (causal mask, Tq != Tk)", single=None, extra=(
    Check("edge.no_mask", "edge", GRADS, 1, "nomask", matches_reference(*GRADS),
          "no mask: dQ, dK, dV match PyTorch"),
    Check("edge.square", "edge", GRADS, 1, "square", matches_reference(*GRADS),
          "self-attention shapes (Tq = Tk) with a causal mask"),
    Check("edge.single", "edge", GRADS, 1, "single", matches_reference(*GRADS), "batch of one")))


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

def _grads(Q, K, V, mask, dout, scale=True, softmax="right", dK_like_dQ=False, use_mask=True) -> dict:
    """dQ, dK, dV with one known mistake switched on."""
    S = Q @ K.transpose(0, 2, 1) / np.sqrt(Q.shape[-1])
    if mask is not None and use_mask:
        S = np.where(mask, S, -np.inf)
    E = np.exp(S - S.max(axis=-1, keepdims=True))
    P = E / E.sum(axis=-1, keepdims=True)
    dV = P.transpose(0, 2, 1) @ dout
    dP = dout @ V.transpose(0, 2, 1)
    dS = {"right": P * (dP - (dP * P).sum(axis=-1, keepdims=True)), "no_sum": P * dP,
          "diagonal": P * (1 - P) * dP, "wrong_axis": P * (dP - (dP * P).sum(axis=-2, keepdims=True))}[softmax]
    c = 1 / np.sqrt(Q.shape[-1]) if scale else 1.0
    dK = c * (dS @ Q) if dK_like_dQ else c * (dS.transpose(0, 2, 1) @ Q)
    return {"dQ": c * (dS @ K), "dK": dK, "dV": dV}


def _call(p):
    """(Q, K, V, mask, dout) of the call a check is about (a new forward has no mask)."""
    a = layer.call_arrays(SPEC, p)
    return a["Q"], a["K"], a["V"], a.get("mask") if p.check.call != "new_forward" else None, a["dout"]


def _variant(evidence, labels=GRADS, **mistake):
    def candidate(p):
        if p.label not in labels:
            return None
        return _grads(*_call(p), **mistake)[p.label]
    return formula(evidence, candidate)


def _mirror_crashed(p):
    """backward raised a matmul shape error where Tq != Tk, and on the Tq = Tk scenario dK came
    out as dS @ Q: the dK line mirrors the dQ line."""
    error = getattr(p.failure, "error", None)
    if not error or error["type"] != "ValueError" or "matmul" not in error["message"] or not in_backward(error):
        return None
    a = p.ev.inputs(p.scenario)
    if a["Q"].shape[1] == a["K"].shape[1]:
        return None
    got = p.learner("square", "dK")
    s = p.ev.inputs("square")
    if got is None or not close(got, _grads(s["Q"], s["K"], s["V"], s.get("mask"), s["dout"], dK_like_dQ=True)["dK"]):
        return None
    return {"evidence": t("backward raised a matmul shape error when Tq != Tk, and with Tq = Tk its "
                          "dK equals dS @ Q / sqrt(d)"),
            "at_line": (error.get("where") or {}).get("line")}


MISTAKES = [
    Mistake("dK_mirrors_dQ", "dK was written like dQ, without transposing dS: {evidence}. "
            "S = Q K^T, so dK = dS^T Q / sqrt(d): dS.transpose(0, 2, 1) @ Q", _mirror_crashed),
    Mistake("dK_mirrors_dQ", "dK was written like dQ, without transposing dS: {evidence}. "
            "S = Q K^T, so dK = dS^T Q / sqrt(d): dS.transpose(0, 2, 1) @ Q",
            _variant("got dK equals dS @ Q / sqrt(d), which has the right shape only when Tq = Tk",
                     labels=("dK",), dK_like_dQ=True)),
    Mistake("scale_forgotten_in_backward", "the 1 / sqrt(d) of the scores was left out of backward: "
            "{evidence}. S = Q K^T / sqrt(d), so dQ and dK carry that factor too",
            _variant("got equals sqrt(d) times the right answer, as backward without the scale gives",
                     labels=("dQ", "dK"), scale=False),
            at_code=r"sqrt|scale"),
    Mistake("softmax_backward_missing_sum_term", "the softmax backward lacks its row-sum term: "
            "{evidence}. Each row's weights sum to 1, so dS = P * (dP - (dP * P).sum(axis=-1, "
            "keepdims=True))",
            _variant("got equals the gradient with dS = P * dP", labels=("dQ", "dK"), softmax="no_sum"),
            at_code=r"\.sum\(|\bP\s*\*|\*\s*P\b"),
    Mistake("softmax_diagonal_jacobian", "the softmax derivative was taken element-wise as "
            "p * (1 - p), the diagonal of its Jacobian only: {evidence}. Every weight of a row "
            "depends on every score of that row: dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))",
            _variant("got equals the gradient with dS = P * (1 - P) * dP",
                     labels=("dQ", "dK"), softmax="diagonal"),
            at_code=r"\.sum\(|\bP\s*\*|\*\s*P\b"),
    Mistake("softmax_sum_wrong_axis", "the row sum of the softmax backward ran over the queries "
            "(axis -2) instead of the keys (axis -1): {evidence}",
            _variant("got equals the gradient with (dP * P).sum(axis=-2)",
                     labels=("dQ", "dK"), softmax="wrong_axis"),
            at_code=r"\.sum\(|\bP\s*\*|\*\s*P\b"),
    Mistake("mask_ignored_in_backward", "backward ignored the mask: {evidence}. Use the attention "
            "weights forward cached (masked entries are exactly 0) instead of recomputing them "
            "without the mask",
            _variant("got equals the gradients of the same attention without its mask", use_mask=False)),
]
