"""Hidden checks for mse: loss = mean((pred - target)**2) over all elements; dpred of dout * loss."""
from __future__ import annotations

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, close, first_call_right, formula
from bpdrill.core.driving import drive_loss
from bpdrill.i18n import register, t
from bpdrill.core.judge import Check, matches_reference, numgrad_check, shape_check, unchanged_check
from bpdrill.core.protocol import Scenario


def _inputs(rng, shape):
    return {"pred": rng.normal(size=shape), "target": rng.normal(size=shape)}


def _dout(rng) -> float:
    """Away from 1 (a dropped dout shows) and from +-0.5 (a missing 2 stays its own mistake)."""
    return float(rng.uniform(1.25, 2.5) * rng.choice([-1, 1]))


def scenarios(rng) -> list[Scenario]:
    n, d, a = (int(v) for v in rng.permutation(range(2, 8))[:3])  # N != D: N is not the element count
    basic = _inputs(rng, (n, d))
    twice = _inputs(rng, (n, d))
    later = _inputs(rng, (n, d))
    twice.update({"pred3": later["pred"], "target3": later["target"]})
    return [
        Scenario("basic", "backward", basic, {"dout": _dout(rng)}),
        Scenario("basic.perturb", "perturb", basic, {"h": compare.H}),
        Scenario("nd", "backward", _inputs(rng, (a, n, d)), {"dout": _dout(rng)}),
        Scenario("single", "backward", _inputs(rng, (1, d)), {"dout": _dout(rng)}),
        Scenario("default", "backward", _inputs(rng, (n, d)), {}),
        Scenario("twice", "backward", twice, {"dout": _dout(rng), "dout2": _dout(rng), "dout3": _dout(rng)}),
    ]


def _project(ev, scenario):
    dout = ev.params(scenario[: -len(".perturb")])["dout"]
    return lambda losses: dout * losses


CHECKS = [
    shape_check("dpred", like="pred"),
    numgrad_check("dpred", "pred", _project, points=2),
    Check("torch.dpred", "torch", ("dpred", "loss"), 1, "nd", matches_reference("dpred", "loss"),
          "loss and dpred match PyTorch for a 3-D input (the mean runs over every element)",
          "三维输入时 loss 和 dpred 与 PyTorch 一致（对所有元素求平均）"),
    Check("edge.single", "edge", "dpred", 1, "single", matches_reference("dpred"), "batch of one", "批大小为 1"),
    Check("edge.default_dout", "edge", "dpred", 1, "default", matches_reference("dpred"),
          "backward() with the default dout = 1", "使用默认的 dout = 1 调用 backward()"),
    Check("edge.second_backward", "edge", "dpred", 1, "twice", matches_reference(("dpred2", "dpred2", "dpred")),
          "a second backward with a new dout", "用新的 dout 再调用一次 backward", call="second"),
    Check("edge.new_forward", "edge", "dpred", 1, "twice", matches_reference(("dpred3", "dpred3", "dpred")),
          "after a new forward, backward uses the new pred and target",
          "新的 forward 之后，backward 使用新的 pred 和 target", call="new_forward"),
    unchanged_check("pred", "target"),
]


# ---- the worker's side ----------------------------------------------------------------------

def drive(module, s: Scenario) -> dict:
    return drive_loss(module.MSELoss(), s, "pred", "target", "dpred")


# ---- the trusted side: PyTorch float64 ------------------------------------------------------

def reference(ref, s: Scenario) -> dict:
    return ref.loss(s, ref.torch.nn.functional.mse_loss, "pred", "target", "dpred")


# ---- diagnosis ----------------------------------------------------------------------------

def where(probe) -> str:
    return "MSELoss.forward" if probe.label == "loss" else "MSELoss.backward"


def sizes(ev, scenario) -> dict:
    return {}  # the mean runs over every element, not the batch: the generic 1/N rules do not apply


def _call(p):
    """(diff, dout) of the call the check is about: the first one, a second backward, or a new forward."""
    a, params = p.inputs, p.ev.params(p.scenario)
    if p.check.call == "new_forward":
        return a["pred3"] - a["target3"], params["dout3"]
    if p.check.call == "second":
        return a["pred"] - a["target"], params["dout2"]
    return a["pred"] - a["target"], params.get("dout", 1.0)


def _rule(evidence, zh, rule, single_fits_others=False):
    """formula() for dpred: rule(diff, dout, n, N) is the wrong answer (None: not this mistake).

    single_fits_others: for a batch of one (N = 1 < n) dividing by N and not dividing at all give
    the same numbers; the rule is claimed there only if it also explains the basic scenario."""
    def candidate(p):
        if p.label != "dpred":
            return None
        diff, dout = _call(p)
        if single_fits_others and diff.ndim and diff.shape[0] == 1 < diff.size and not _fits_basic(p, rule):
            return None
        return rule(diff, dout, diff.size, diff.shape[0] if diff.ndim else 1)
    return formula(evidence, candidate, zh=zh)


def _fits_basic(p, rule) -> bool:
    """rule also gives the learner's dpred on the basic scenario (N < n: the rules differ there)."""
    a, dout = p.ev.inputs("basic"), p.ev.params("basic")["dout"]
    diff = a["pred"] - a["target"]
    got, wrong = p.learner("basic", "dpred"), rule(diff, dout, diff.size, diff.shape[0])
    return got is not None and wrong is not None and close(got, wrong)


def _one_number(p):
    """A single number 2 * dout * mean(diff) where an array of pred's shape belongs."""
    if p.label != "dpred":
        return None
    got = p.got if p.got is not None else p.learner(p.scenario, "dpred")
    diff, dout = _call(p)
    if got is None or got.size != 1 or diff.size < 2:
        return None
    if close(got.reshape(()), np.array(2 * dout * diff.mean())):
        return {"evidence": t("got one number, 2 * dout * mean(pred - target), not an array of shape {shape}",
                              shape=diff.shape)}
    return None


MISTAKES = [
    Mistake("mean_of_gradient", "the gradient was averaged too: {evidence}. The mean is in the loss; "
            "its gradient has one entry per element of pred: 2 * dout * (pred - target) / pred.size",
            _one_number,
            says_zh="梯度也被求了平均：{evidence}。平均只在损失里；梯度对 pred 的每个元素都有一项："
                    "2 * dout * (pred - target) / pred.size"),
    Mistake("missing_factor_2", "the 2 from d(diff**2) = 2 diff is missing: {evidence}",
            _rule("dpred = dout * (pred - target) / n, half the right answer",
                  "dpred = dout * (pred - target) / n，是正确答案的一半",
                  lambda diff, dout, n, N: dout * diff / n),
            says_zh="漏了 d(diff**2) = 2 diff 中的 2：{evidence}"),
    Mistake("divided_by_batch_size", "divided by the batch size N, but the mean runs over every element: "
            "{evidence}. Divide by pred.size",
            _rule("dpred = 2 * dout * (pred - target) / N, with N = pred.shape[0]",
                  "dpred = 2 * dout * (pred - target) / N，其中 N = pred.shape[0]",
                  lambda diff, dout, n, N: 2 * dout * diff / N, single_fits_others=True),
            says_zh="除以了批大小 N，但平均是对所有元素求的：{evidence}。要除以 pred.size"),
    Mistake("missing_mean", "the 1/n of the mean is missing: {evidence}. The loss averages over all "
            "n = pred.size elements: divide by n",
            _rule("dpred = 2 * dout * (pred - target), the gradient of the sum",
                  "dpred = 2 * dout * (pred - target)，这是求和的梯度",
                  lambda diff, dout, n, N: 2 * dout * diff, single_fits_others=True),
            says_zh="漏了平均中的 1/n：{evidence}。损失对全部 n = pred.size 个元素求平均：要除以 n"),
    Mistake("dropped_upstream", "the upstream gradient dout was dropped: {evidence}. Multiply by dout",
            _rule("got equals the gradient for dout = 1", "得到的是 dout = 1 时的梯度",
                  lambda diff, dout, n, N: 2 * diff / n if dout != 1.0 else None),
            says_zh="丢掉了上游梯度 dout：{evidence}。要乘上 dout"),
    Mistake("stale_cache", "backward used the pred and target of an earlier forward: {evidence}",
            lambda p: p.check.call == "new_forward" and formula(
                "after forward(pred2, target2), dpred came from the first pair",
                lambda p: 2 * p.ev.params(p.scenario)["dout3"] * (p.inputs["pred"] - p.inputs["target"])
                / p.inputs["pred"].size, zh="forward(pred2, target2) 之后，dpred 仍来自第一对输入")(p),
            says_zh="backward 用了更早一次 forward 的 pred 和 target：{evidence}"),
    Mistake("cache_modified_in_place", "backward changed what forward cached: {evidence}. "
            "Compute into a new array instead of modifying self.diff in place",
            lambda p: p.check.call == "second" and first_call_right("dpred")(p),
            says_zh="backward 修改了 forward 缓存的值：{evidence}。把结果算到新数组里，不要原地修改 self.diff"),
]

ZH = {
    "got one number, 2 * dout * mean(pred - target), not an array of shape {shape}":
        "得到的是一个数 2 * dout * mean(pred - target)，而不是形状为 {shape} 的数组",
}
register(ZH)
