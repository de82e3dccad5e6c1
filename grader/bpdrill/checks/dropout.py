"""Hidden checks for dropout: out = x * mask / (1 - p) in training, the identity in evaluation; dx.

The mask is random: the layer gets a seeded rng, and the PyTorch reference runs the masks the
given forward draws from it through autograd (x * mask / (1 - p); evaluation mode is
torch.nn.functional.dropout(training=False)). x has no zeros, so the grader also reads back
the mask the learner's forward actually drew (where its output is not zero): when it is not
the given forward's draw (a forward written another way), the reference is computed again
with the learner's own mask, so a correct backward never fails for how forward drew. The
numerical gradient perturbs x under the same mask too (a fresh layer, the same seed).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bpdrill.core import compare
from bpdrill import i18n
from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.driving import perturbed_outputs, raised, snapshot
from bpdrill.i18n import t
from bpdrill.core.judge import Check, Failed, compare_arrays, numgrad_check, shape_check, unchanged_check
from bpdrill.core.protocol import Scenario

ERRORS_OF_A_MISSING_EVAL_BRANCH = ("TypeError", "AttributeError", "ValueError", "IndexError")


def _nonzero(rng, shape):
    """Normal-like values bounded away from 0: a zero in the output always means dropped."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


def _train(rng, shape, p, twice=False):
    arrays = {"x": _nonzero(rng, shape), "dout": rng.normal(size=shape)}
    if twice:
        arrays.update({"dout2": rng.normal(size=shape), "x3": _nonzero(rng, shape),
                       "dout3": rng.normal(size=shape)})
    return arrays, {"p": float(p), "seed": int(rng.integers(2**31))}


def scenarios(rng) -> list[Scenario]:
    n, d = (int(v) for v in rng.permutation(range(2, 8))[:2])
    big3 = tuple(int(v) for v in rng.permutation(range(4, 10))[:3])  # >= 120 elements: a mask never repeats by chance
    wide = (int(rng.integers(8, 12)), int(rng.integers(10, 14)))
    basic, basic_params = _train(rng, (n, d), rng.uniform(0.2, 0.5))
    large, large_params = _train(rng, big3, rng.uniform(0.5, 0.85))
    single, single_params = _train(rng, (1, int(rng.integers(10, 17))), rng.uniform(0.2, 0.4))
    twice, twice_params = _train(rng, wide, rng.uniform(0.3, 0.7), twice=True)
    zero, zero_params = _train(rng, (n, d), 0.0)
    evaluation = {"x": _nonzero(rng, wide), "dout": rng.normal(size=wide)}
    after_train = {"x": _nonzero(rng, wide), "dout": rng.normal(size=wide),
                   "x2": _nonzero(rng, wide), "dout2": rng.normal(size=wide)}
    return [
        Scenario("basic", "train", basic, basic_params),
        Scenario("basic.perturb", "perturb", basic, {**basic_params, "h": compare.H}),
        Scenario("large", "train", large, large_params),
        Scenario("single", "train", single, single_params),
        Scenario("twice", "train", twice, twice_params),
        Scenario("p_zero", "train", zero, {**zero_params, "bounds": True}),
        Scenario("eval", "eval", evaluation, {"p": float(rng.uniform(0.3, 0.7)), "seed": int(rng.integers(2**31))}),
        Scenario("eval_after_train", "eval_after_train", after_train,
                 {"p": float(rng.uniform(0.3, 0.7)), "seed": int(rng.integers(2**31))}),
    ]


def _project(ev, scenario):
    return compare.weighted_sum(ev.inputs(scenario)["dout"])


# ---- judges: the reference with the learner's own masks ------------------------------------

# Per mode, the training-mode forward outputs each mask is read from: (output, input, mask key).
MASKS = {"train": (("out", "x", "mask"), ("out3", "x3", "mask3")),
         "eval_after_train": (("out_train", "x", "mask"),), "eval": ()}


def _learner_mask(ev, scenario: str, out_key: str, x_key: str) -> np.ndarray:
    """The keep-mask of the learner's forward: where its output is not zero (x has no zeros)."""
    x, p = ev.inputs(scenario)[x_key], ev.params(scenario)["p"]
    out = ev.array(scenario, out_key, "out")
    if out.shape != x.shape:
        raise Failed(t("forward returned shape {got} for x of shape {shape}: keep the given forward",
                       got=out.shape, shape=x.shape), target="out")
    mask = out != 0
    if compare.elementwise_mismatch(out, np.where(mask, x / (1.0 - p), 0.0)).any():
        raise Failed(t("forward's output is not x * mask / (1 - p) for a 0/1 mask: keep the given forward"),
                     target="out")
    return mask


def expected(ev, scenario: str) -> dict:
    """The PyTorch reference for the scenario, under the masks the learner's forward drew."""
    s = ev.scenarios[scenario]
    values = ev.values(scenario)
    ref = ev.reference(scenario)
    masks = {mask: _learner_mask(ev, scenario, out, x) for out, x, mask in MASKS[s.mode] if out in values}
    if all(np.array_equal(m, ref[key]) for key, m in masks.items()):
        return ref  # the given forward's draws: the reference computed ahead of time
    # A forward that draws its mask another way: the same computation with the learner's masks
    # (Evidence's reference function computes a variant of a scenario, as Probe.reference_with does).
    return ev._reference(replace(s, arrays={**s.arrays, **masks}))


def matches_with_learner_mask(*keys):
    """Each (got_key, name) equals PyTorch's, run with the mask the learner's forward drew."""
    def judge(ev, check: Check) -> None:
        ref = expected(ev, check.scenario)
        for key, name in keys:
            compare_arrays(name, ev.array(check.scenario, key, name), ref[key], "torch")
    return judge


def p_invalid_raises(ev, check: Check) -> None:
    """p = 1 and p < 0 raise ValueError (the given constructor's own check)."""
    for key, shown in (("raised.one", "Dropout(p=1.0)"), ("raised.negative", "Dropout(p=-0.1)")):
        v = ev.value(check.scenario, key)
        if v.value != "ValueError":
            raise Failed(t("{call} gave {got}; expected ValueError (p must be in [0, 1))", call=shown,
                           got=v.value), target="p")


CHECKS = [
    shape_check("dx", like="x"),
    numgrad_check("dx", "x", _project, points=2),
    Check("torch.dx", "torch", "dx", 2, "large", matches_with_learner_mask(("dx", "dx")),
          "dx matches PyTorch with the forward's mask (3-D input, p up to 0.85)",
          "dx 与 PyTorch 一致（使用 forward 的掩码；三维输入，p 最大 0.85）"),
    Check("edge.single", "edge", "dx", 1, "single", matches_with_learner_mask(("dx", "dx")),
          "batch of one", "批大小为 1"),
    Check("edge.second_backward", "edge", "dx", 1, "twice", matches_with_learner_mask(("dx2", "dx")),
          "a second backward reuses the same mask", "第二次 backward 仍使用同一个掩码", call="second"),
    Check("edge.new_forward", "edge", "dx", 1, "twice", matches_with_learner_mask(("dx3", "dx")),
          "after a new forward, backward uses its new mask", "新的 forward 之后，backward 使用新的掩码",
          call="new_forward"),
    Check("edge.eval", "edge", "dx", 1, "eval", matches_with_learner_mask(("out", "out"), ("dx", "dx")),
          "evaluation mode: forward is the identity and backward returns dout",
          "评估模式：forward 是恒等映射，backward 返回 dout"),
    Check("edge.eval_after_train", "edge", "dx", 1, "eval_after_train",
          matches_with_learner_mask(("out_eval", "out"), ("dx_eval", "dx")),
          "after an evaluation-mode forward, backward returns dout (no old mask)",
          "评估模式的 forward 之后，backward 返回 dout（不再使用旧掩码）"),
    Check("edge.p_bounds", "edge", "dx", 1, "p_zero", matches_with_learner_mask(("out", "out"), ("dx", "dx")),
          "p = 0 keeps everything (dx = dout)", "p = 0 时全部保留（dx = dout）"),
    # the given constructor makes this check, not the exercise: it says so, and carries no points
    Check("edge.p_invalid_raises", "edge", "p", 0, "p_zero", p_invalid_raises,
          "p = 1 and p < 0 raise ValueError (the given constructor's check: no points)",
          "p = 1 或 p < 0 时抛出 ValueError（给定构造函数的检查：不计分）"),
    unchanged_check("x", "dout"),
]


# ---- the worker's side ----------------------------------------------------------------------

def _layer(module, s: Scenario):
    return module.Dropout(p=s.params["p"], rng=np.random.default_rng(s.params["seed"]))


def drive(module, s: Scenario) -> dict:
    if s.mode == "perturb":  # a fresh layer, same seed, every time: the same mask for every forward
        x = s["x"]
        plus, minus = perturbed_outputs(lambda: _layer(module, s).forward(x), x, s.params["h"])
        return {"plus.x": plus, "minus.x": minus}
    layer = _layer(module, s)
    x, dout = s["x"], s["dout"]
    if s.mode == "eval":  # a fresh layer in evaluation mode: no mask was ever drawn
        layer.training = False
        out = {"out": snapshot(layer.forward(x))}
        out["dx"] = snapshot(layer.backward(dout))
    elif s.mode == "eval_after_train":  # a training step, then an evaluation-mode one
        out = {"out_train": snapshot(layer.forward(x))}
        out["dx_train"] = snapshot(layer.backward(dout))
        layer.training = False
        out["out_eval"] = snapshot(layer.forward(s["x2"]))
        out["dx_eval"] = snapshot(layer.backward(s["dout2"]))
    else:
        out = {}
        if s.params.get("bounds"):
            out["raised.one"] = raised(lambda: module.Dropout(p=1.0))
            out["raised.negative"] = raised(lambda: module.Dropout(p=-0.1))
        out["out"] = snapshot(layer.forward(x))
        out["dx"] = snapshot(layer.backward(dout))
        if "dout2" in s:
            out["dx2"] = snapshot(layer.backward(s["dout2"]))
        if "x3" in s:
            out["out3"] = snapshot(layer.forward(s["x3"]))
            out["dx3"] = snapshot(layer.backward(s["dout3"]))
    out.update({"after.x": x, "after.dout": dout})
    return out


# ---- the trusted side: PyTorch float64 ------------------------------------------------------

def _given_forward_masks(s: Scenario) -> dict:
    """The masks the given forward draws from the layer's seeded rng, in the order it draws them
    (so the reference can be computed ahead of time). A scenario that carries its own "mask" /
    "mask3" (the learner's, from a forward that draws another way) overrides them."""
    rng, p, a = np.random.default_rng(s.params["seed"]), s.params["p"], s.arrays
    if s.mode == "eval":
        return {}
    masks = {"mask": rng.random(a["x"].shape) >= p}
    if "x3" in a:
        masks["mask3"] = rng.random(a["x3"].shape) >= p
    return masks


def reference(ref, s: Scenario) -> dict:
    torch, a, p = ref.torch, s.arrays, s.params["p"]
    masks = {**_given_forward_masks(s), **{k: a[k] for k in ("mask", "mask3") if k in a}}
    out = {}

    def train(x, mask, dout, suffix):  # no torch function takes a given mask: build it from ops
        xt = ref.leaf(x)
        y = xt * ref.leaf(mask.astype(np.float64), False) / (1.0 - p)
        ref.backward(y, dout)
        out[f"out{suffix}"], out[f"dx{suffix}"] = ref.numpy(y), ref.numpy(xt.grad)

    def evaluate(x, dout, suffix):
        xt = ref.leaf(x)
        y = torch.nn.functional.dropout(xt, p, training=False)
        ref.backward(y, dout)
        out[f"out{suffix}"], out[f"dx{suffix}"] = ref.numpy(y), ref.numpy(xt.grad)

    out.update(masks)  # the judges compare them with the masks the learner's forward drew
    if s.mode == "eval":
        evaluate(a["x"], a["dout"], "")
    elif s.mode == "eval_after_train":
        train(a["x"], masks["mask"], a["dout"], "_train")
        evaluate(a["x2"], a["dout2"], "_eval")
    else:
        train(a["x"], masks["mask"], a["dout"], "")
        if "dout2" in a:
            train(a["x"], masks["mask"], a["dout2"], "2")
        if "x3" in a:
            train(a["x3"], masks["mask3"], a["dout3"], "3")
    return out


# ---- diagnosis --------------------------------------------------------------------------------

def where(probe) -> str:
    if probe.label == "p":
        return "Dropout.__init__"
    return "Dropout.forward" if probe.label == "out" else "Dropout.backward"


def sizes(ev, scenario) -> dict:
    return {}  # no batch mean anywhere: constant factors here are scales, not 1/N


def _mask(p, out_key: str, x_key: str):
    try:
        return _learner_mask(p.ev, p.scenario, out_key, x_key)
    except Failed:
        return None


def _train_call(p):
    """(dout, mask, drop probability, the mask of the forward before) of the training-mode call
    the check judges, or None when the check is not about one."""
    s, a = p.ev.scenarios[p.scenario], p.inputs
    if s.mode != "train" or p.label != "dx":
        return None
    drop = s.params["p"]
    if p.check.call == "new_forward":
        return a["dout3"], _mask(p, "out3", "x3"), drop, _mask(p, "out", "x")
    return a["dout2" if p.check.call == "second" else "dout"], _mask(p, "out", "x"), drop, None


def _train_rule(evidence: str, rule, zh: str):
    """A formula test over a training-mode call: rule(dout, mask, p) is the wrong dx."""
    def candidate(p):
        call = _train_call(p)
        if call is None or call[1] is None:
            return None
        dout, mask, drop, _ = call
        return rule(dout, mask, drop)
    return formula(evidence, candidate, zh=zh)


def _stale(p):
    """After forward(x3), dx used the first forward's mask."""
    call = _train_call(p)
    if call is None or call[3] is None or p.check.call != "new_forward":
        return None
    dout, _, drop, old = call
    return dout * old / (1.0 - drop)


def _fresh_mask(p):
    """dx is dout / (1 - p) or 0 everywhere, but its zeros are not where the forward dropped."""
    call = _train_call(p)
    if call is None or call[1] is None or p.got is None or p.got.shape != call[0].shape:
        return None
    dout, mask, drop, _ = call
    got = p.got
    zero = got == 0
    if compare.elementwise_mismatch(got, dout / (1.0 - drop))[~zero].any():
        return None
    differ = int(np.sum(zero == mask))  # a kept element with zero gradient, or a dropped one with some
    if differ == 0 or np.array_equal(zero, mask):  # right, or exactly the dropped ones (mask_inverted)
        return None
    return {"evidence": t("dx is dout / (1 - p) or 0, but at {count} of {size} positions it is zero "
                          "where the forward kept the element or not zero where it dropped it",
                          count=differ, size=got.size)}


def _eval_call(p):
    """(dout, drop probability, the training forward's mask or None) of an eval-mode check."""
    s, a = p.ev.scenarios[p.scenario], p.inputs
    if p.label != "dx" or s.mode not in ("eval", "eval_after_train"):
        return None
    if s.mode == "eval":
        return a["dout"], s.params["p"], None
    return a["dout2"], s.params["p"], _mask(p, "out_train", "x")


def _eval_scaled(p):
    call = _eval_call(p)
    return None if call is None else call[0] / (1.0 - call[1])


def _eval_old_mask(p):
    call = _eval_call(p)
    return None if call is None or call[2] is None else call[0] * call[2] / (1.0 - call[1])


def _eval_forgotten(p):
    """After an evaluation-mode forward, backward crashed (on a mask of None), or zeroed dx after
    a fresh layer's first forward, while training-mode backward is right: backward has no branch
    for evaluation mode."""
    if p.check.id not in ("edge.eval", "edge.eval_after_train") or not p.passed("torch.dx"):
        return None
    error = p.error(p.scenario)
    if error is not None and error["type"] in ERRORS_OF_A_MISSING_EVAL_BRANCH:
        return {"evidence": t("after a forward with training = False, backward raised {error}",
                              error=error["type"])}
    if p.check.id == "edge.eval" and p.got is not None and p.got.shape == p.inputs["dout"].shape \
            and not p.got.any():
        return {"evidence": t("after a forward with training = False, backward returned zeros")}
    return None


MISTAKES = [
    Mistake("missing_scale", "dx misses the inverted-dropout scale 1 / (1 - p): {evidence}. The "
            "forward multiplied by mask / (1 - p), so backward does too",
            _train_rule("got = dout * mask", lambda d, m, p: d * m, zh="got = dout * mask"),
            says_zh="dx 缺少 inverted dropout 的缩放 1 / (1 - p)：{evidence}。forward 乘的是 mask / (1 - p)，"
                    "backward 也要乘同样的东西"),
    Mistake("non_inverted_scale", "dx multiplies by 1 - p where inverted dropout divides by it: "
            "{evidence}", _train_rule("got = dout * mask * (1 - p)", lambda d, m, p: d * m * (1.0 - p),
                                      zh="got = dout * mask * (1 - p)"),
            says_zh="dx 乘了 1 - p，而 inverted dropout 应该除以它：{evidence}"),
    Mistake("mask_inverted", "the gradient went through the dropped elements instead of the kept "
            "ones: {evidence}. The mask is True where the element was kept",
            _train_rule("got = dout * (1 - mask) / (1 - p)", lambda d, m, p: d * ~m / (1.0 - p),
                        zh="got = dout * (1 - mask) / (1 - p)"),
            says_zh="梯度流过了被丢弃的元素，而不是被保留的元素：{evidence}。mask 为 True 表示该元素被保留"),
    Mistake("dropped_upstream", "the upstream gradient dout was dropped: {evidence}. Multiply by dout",
            _train_rule("got = mask / (1 - p), whatever dout is", lambda d, m, p: m / (1.0 - p),
                        zh="got = mask / (1 - p)，与 dout 无关"),
            says_zh="丢掉了上游梯度 dout：{evidence}。要乘以 dout"),
    Mistake("stale_cache", "backward used the mask of an earlier forward: {evidence}. Use the mask "
            "the last forward drew",
            formula("after a new forward, dx = dout * (the first forward's mask) / (1 - p)", _stale,
                    zh="新的 forward 之后，dx = dout * （第一次 forward 的掩码）/ (1 - p)"),
            says_zh="backward 用了更早一次 forward 的掩码：{evidence}。要用最近一次 forward 生成的掩码"),
    Mistake("eval_mode_forgotten", "backward ignores evaluation mode: {evidence}. In evaluation "
            "mode dropout is the identity: return dout unchanged",
            lambda p: _eval_forgotten(p) or formula(
                "after an evaluation-mode forward, dx = dout * (the training forward's mask) / (1 - p)",
                _eval_old_mask, zh="评估模式的 forward 之后，dx = dout * （训练模式 forward 的掩码）/ (1 - p)")(p),
            says_zh="backward 没有处理评估模式：{evidence}。评估模式下 dropout 是恒等映射：原样返回 dout"),
    Mistake("eval_mode_scaled", "in evaluation mode dx is scaled by 1 / (1 - p): {evidence}. "
            "Evaluation-mode dropout is the identity, so dx = dout",
            formula("after an evaluation-mode forward, got = dout / (1 - p)", _eval_scaled,
                    zh="评估模式的 forward 之后，got = dout / (1 - p)"),
            says_zh="评估模式下 dx 被乘上了 1 / (1 - p)：{evidence}。评估模式的 dropout 是恒等映射，所以 dx = dout"),
    Mistake("fresh_mask", "backward drew a new random mask instead of reusing the forward's: "
            "{evidence}. Cache the mask in forward and multiply by it in backward", _fresh_mask,
            says_zh="backward 重新抽了一个随机掩码，而不是沿用 forward 的：{evidence}。在 forward 中缓存掩码，"
                    "backward 里乘以它"),
]

ZH = {
    "forward returned shape {got} for x of shape {shape}: keep the given forward":
        "forward 对形状为 {shape} 的 x 返回了形状 {got}：请保留题目给出的 forward",
    "forward's output is not x * mask / (1 - p) for a 0/1 mask: keep the given forward":
        "forward 的输出不是 x * mask / (1 - p)（mask 取 0 或 1）：请保留题目给出的 forward",
    "{call} gave {got}; expected ValueError (p must be in [0, 1))":
        "{call} 的结果是 {got}；应抛出 ValueError（p 必须在 [0, 1) 内）",
    "dx is dout / (1 - p) or 0, but at {count} of {size} positions it is zero where the forward kept "
    "the element or not zero where it dropped it":
        "dx 的值是 dout / (1 - p) 或 0，但在 {size} 个位置中有 {count} 个与 forward 不符：forward 保留的"
        "元素梯度为 0，或被丢弃的元素梯度不为 0",
    "after a forward with training = False, backward raised {error}":
        "training = False 的 forward 之后，backward 抛出了 {error}",
    "after a forward with training = False, backward returned zeros":
        "training = False 的 forward 之后，backward 返回了全零",
}
i18n.register(ZH)
