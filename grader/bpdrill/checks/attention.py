"""Hidden checks for attention: out = softmax(Q K^T / sqrt(d), masked) V; dQ, dK, dV."""
from __future__ import annotations

import numpy as np

from bpdrill.core import compare
from bpdrill import i18n
from bpdrill.core.diagnose import Mistake, close, first_call_right, formula, in_backward
from bpdrill.core.driving import perturbed_outputs, snapshot
from bpdrill.i18n import t
from bpdrill.core.judge import Check, matches_reference, numgrad_check, shape_check, unchanged_check
from bpdrill.core.protocol import Scenario, describe

GRADS = ("dQ", "dK", "dV")


def _causal(tq, tk):
    """(Tq, Tk) bool: query q may attend to keys 0..q (row 0 to key 0 alone: every row has a True)."""
    return np.arange(tk)[None, :] <= np.arange(tq)[:, None]


def _case(rng, n, tq, tk, d, dv, mask=True, calls=1):
    a = {"Q": rng.normal(size=(n, tq, d)), "K": rng.normal(size=(n, tk, d)), "V": rng.normal(size=(n, tk, dv)),
         "dout": rng.normal(size=(n, tq, dv))}
    if mask:
        a["mask"] = _causal(tq, tk)
    if calls > 1:  # a second backward, then a new forward without the mask
        a["dout2"] = rng.normal(size=(n, tq, dv))
        a.update({"Q3": rng.normal(size=(n, tq, d)), "K3": rng.normal(size=(n, tk, d)),
                  "V3": rng.normal(size=(n, tk, dv)), "dout3": rng.normal(size=(n, tq, dv))})
    return a


def scenarios(rng) -> list[Scenario]:
    tq, tk, d, dv = (int(v) for v in rng.permutation(range(2, 7))[:4])  # Tq != Tk, d >= 2
    basic = _case(rng, 2, tq, tk, d, dv)  # Q, K, V perturbed: at most 2 * 6 * 5 * 3 = 180 elements
    k = int(rng.integers(3, 6))
    return [
        Scenario("basic", "backward", basic),
        Scenario("basic.perturb", "perturb", basic, {"h": compare.H}),
        Scenario("nomask", "backward", _case(rng, 3, tk, tq, dv, d, mask=False)),
        Scenario("square", "backward", _case(rng, 2, k, k, d, dv)),
        Scenario("single", "backward", _case(rng, 1, tq, tk, d, dv)),
        Scenario("twice", "backward", _case(rng, 2, tq, tk, d, dv, calls=3)),
    ]


def _project(ev, scenario):
    return compare.weighted_sum(ev.inputs(scenario)["dout"])


CHECKS = [
    shape_check("dQ", like="Q"),
    shape_check("dK", like="K"),
    shape_check("dV", like="V"),
    numgrad_check("dQ", "Q", _project),
    numgrad_check("dK", "K", _project),
    numgrad_check("dV", "V", _project),
    *[Check(f"torch.{g}", "torch", g, 1, "basic", matches_reference(g),
            "{key} matches PyTorch (causal mask, Tq != Tk)", "{key} 与 PyTorch 一致（因果掩码，Tq != Tk）",
            title_args=(("key", g),)) for g in GRADS],
    Check("edge.no_mask", "edge", GRADS, 1, "nomask", matches_reference(*GRADS),
          "no mask: dQ, dK, dV match PyTorch", "无掩码：dQ、dK、dV 与 PyTorch 一致"),
    Check("edge.square", "edge", GRADS, 1, "square", matches_reference(*GRADS),
          "self-attention shapes (Tq = Tk) with a causal mask", "自注意力的形状（Tq = Tk），带因果掩码"),
    Check("edge.single", "edge", GRADS, 1, "single", matches_reference(*GRADS), "batch of one", "批大小为 1"),
    Check("edge.second_backward", "edge", GRADS, 1, "twice",
          matches_reference(*[(f"{g}2", f"{g}2", g) for g in GRADS]),
          "a second backward leaves the cached weights intact", "第二次 backward 不会破坏缓存的注意力权重",
          call="second"),
    Check("edge.new_forward", "edge", GRADS, 1, "twice",
          matches_reference(*[(f"{g}3", f"{g}3", g) for g in GRADS]),
          "after a new forward (no mask), backward uses the new inputs",
          "新的 forward（无掩码）之后，backward 使用新的输入", call="new_forward"),
    unchanged_check("Q", "K", "V", "dout"),
]


# ---- the worker's side: drive the learner's ScaledDotProductAttention -------------------------

def _backward(layer, dout) -> dict:
    result = layer.backward(dout)
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise TypeError(t("backward returned {got}; expected a tuple {names}", got=describe(result),
                          names="(dQ, dK, dV)"))
    return {g: snapshot(v) for g, v in zip(GRADS, result)}


def drive(module, s: Scenario) -> dict:
    layer = module.ScaledDotProductAttention()
    Q, K, V = s["Q"], s["K"], s["V"]
    mask = s["mask"] if "mask" in s else None
    if s.mode == "perturb":
        out = {}
        for name, array in (("Q", Q), ("K", K), ("V", V)):
            out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(
                lambda: layer.forward(Q, K, V, mask), array, s.params["h"])
        return out
    dout = s["dout"]
    out = {"out": snapshot(layer.forward(Q, K, V, mask)), **_backward(layer, dout)}
    if "dout2" in s:
        out.update({f"{k}2": v for k, v in _backward(layer, s["dout2"]).items()})
    if "Q3" in s:  # a new forward, without the mask
        layer.forward(s["Q3"], s["K3"], s["V3"])
        out.update({f"{k}3": v for k, v in _backward(layer, s["dout3"]).items()})
    out.update({"after.Q": Q, "after.K": K, "after.V": V, "after.dout": dout})
    return out


# ---- the trusted side: PyTorch float64 ------------------------------------------------------

def reference(ref, s: Scenario) -> dict:
    a, out = s.arrays, {}
    sdpa = ref.torch.nn.functional.scaled_dot_product_attention
    for suffix in ("", "2", "3"):
        if f"dout{suffix}" not in a:
            continue
        new = "3" if suffix == "3" else ""
        Q, K, V = ref.leaf(a[f"Q{new}"]), ref.leaf(a[f"K{new}"]), ref.leaf(a[f"V{new}"])
        mask = ref.torch.tensor(a["mask"]) if "mask" in a and not new else None
        y = sdpa(Q, K, V, attn_mask=mask)  # a bool mask: True where a query may attend
        (y * ref.leaf(a[f"dout{suffix}"], False)).sum().backward()  # not y.backward(dout): that imports sympy
        out.update({f"out{suffix}": ref.numpy(y), f"dQ{suffix}": ref.numpy(Q.grad),
                    f"dK{suffix}": ref.numpy(K.grad), f"dV{suffix}": ref.numpy(V.grad)})
    return out


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

def where(probe) -> str:
    return "ScaledDotProductAttention.backward"


def sizes(ev, scenario) -> dict:
    return {"N": ev.inputs(scenario)["Q"].shape[0]}


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


def _call(a: dict, call: str):
    """(Q, K, V, mask, dout) of the call a check is about."""
    if call == "new_forward":
        return a["Q3"], a["K3"], a["V3"], None, a["dout3"]
    return a["Q"], a["K"], a["V"], a.get("mask"), a["dout2" if call == "second" else "dout"]


def _variant(evidence, zh, labels=GRADS, **mistake):
    def candidate(p):
        if p.label not in labels:
            return None
        return _grads(*_call(p.inputs, p.check.call), **mistake)[p.label]
    return formula(evidence, candidate, zh=zh)


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
    if got is None or not close(got, _grads(*_call(s, "first"), dK_like_dQ=True)["dK"]):
        return None
    return {"evidence": t("backward raised a matmul shape error when Tq != Tk, and with Tq = Tk its "
                          "dK equals dS @ Q / sqrt(d)"),
            "at_line": (error.get("where") or {}).get("line")}


MISTAKES = [
    Mistake("dK_mirrors_dQ", "dK was written like dQ, without transposing dS: {evidence}. "
            "S = Q K^T, so dK = dS^T Q / sqrt(d): dS.transpose(0, 2, 1) @ Q", _mirror_crashed,
            says_zh="dK 照着 dQ 的样子写，没有转置 dS：{evidence}。S = Q K^T，所以 dK = dS^T Q / sqrt(d)："
                    "dS.transpose(0, 2, 1) @ Q"),
    Mistake("dK_mirrors_dQ", "dK was written like dQ, without transposing dS: {evidence}. "
            "S = Q K^T, so dK = dS^T Q / sqrt(d): dS.transpose(0, 2, 1) @ Q",
            _variant("got dK equals dS @ Q / sqrt(d), which has the right shape only when Tq = Tk",
                     "got 的 dK 等于 dS @ Q / sqrt(d)，只有 Tq = Tk 时形状才对", labels=("dK",),
                     dK_like_dQ=True),
            says_zh="dK 照着 dQ 的样子写，没有转置 dS：{evidence}。S = Q K^T，所以 dK = dS^T Q / sqrt(d)："
                    "dS.transpose(0, 2, 1) @ Q"),
    Mistake("scale_forgotten_in_backward", "the 1 / sqrt(d) of the scores was left out of backward: "
            "{evidence}. S = Q K^T / sqrt(d), so dQ and dK carry that factor too",
            _variant("got equals sqrt(d) times the right answer, as backward without the scale gives",
                     "got 等于正确答案的 sqrt(d) 倍，正是 backward 漏掉缩放时的结果", labels=("dQ", "dK"),
                     scale=False),
            says_zh="backward 漏掉了分数的 1 / sqrt(d)：{evidence}。S = Q K^T / sqrt(d)，所以 dQ 和 dK 也要乘"
                    "这个因子"),
    Mistake("softmax_backward_missing_sum_term", "the softmax backward lacks its row-sum term: "
            "{evidence}. Each row's weights sum to 1, so dS = P * (dP - (dP * P).sum(axis=-1, "
            "keepdims=True))",
            _variant("got equals the gradient with dS = P * dP", "got 等于 dS = P * dP 时的梯度",
                     labels=("dQ", "dK"), softmax="no_sum"),
            says_zh="softmax 的反向传播缺了按行求和的那一项：{evidence}。每行权重之和为 1，所以 "
                    "dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))"),
    Mistake("softmax_diagonal_jacobian", "the softmax derivative was taken element-wise as "
            "p * (1 - p), the diagonal of its Jacobian only: {evidence}. Every weight of a row "
            "depends on every score of that row: dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))",
            _variant("got equals the gradient with dS = P * (1 - P) * dP",
                     "got 等于 dS = P * (1 - P) * dP 时的梯度", labels=("dQ", "dK"), softmax="diagonal"),
            says_zh="softmax 的导数按元素取成了 p * (1 - p)，只用了雅可比矩阵的对角线：{evidence}。一行中的"
                    "每个权重都依赖这一行的每个分数：dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))"),
    Mistake("softmax_sum_wrong_axis", "the row sum of the softmax backward ran over the queries "
            "(axis -2) instead of the keys (axis -1): {evidence}",
            _variant("got equals the gradient with (dP * P).sum(axis=-2)", "got 等于用 (dP * P).sum(axis=-2) 时的梯度",
                     labels=("dQ", "dK"), softmax="wrong_axis"),
            says_zh="softmax 反向传播中的求和沿查询（axis -2）而不是键（axis -1）进行：{evidence}"),
    Mistake("mask_ignored_in_backward", "backward ignored the mask: {evidence}. Use the attention "
            "weights forward cached (masked entries are exactly 0) instead of recomputing them "
            "without the mask",
            _variant("got equals the gradients of the same attention without its mask",
                     "got 等于去掉掩码后同一注意力的梯度", use_mask=False),
            says_zh="backward 忽略了掩码：{evidence}。使用 forward 缓存的注意力权重（被掩码的位置恰好为 0），"
                    "不要不带掩码重新计算"),
    Mistake("cache_modified_in_place", "backward changed the attention weights forward cached: "
            "{evidence}. Compute dS into a new array (dS = P * (...)), never dS = P; dS *= ...",
            lambda p: p.check.call == "second" and first_call_right("{label}")(p),
            says_zh="backward 修改了 forward 缓存的注意力权重：{evidence}。把 dS 算到新数组里"
                    "（dS = P * (...)），不要写 dS = P; dS *= ..."),
]

ZH = {
    "backward returned {got}; expected a tuple {names}": "backward 返回了 {got}；应当返回元组 {names}",
    "backward raised a matmul shape error when Tq != Tk, and with Tq = Tk its dK equals dS @ Q / sqrt(d)":
        "Tq != Tk 时 backward 的矩阵乘法因形状不符而报错，而 Tq = Tk 时它的 dK 等于 dS @ Q / sqrt(d)",
}
i18n.register(ZH)
