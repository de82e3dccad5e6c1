"""Hidden checks for adam: torch.optim.Adam's arithmetic, in place, over several steps."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import optimizer
from bpdrill.kinds.optimizer import moves_check, moves_like_reference

SPEC = optimizer.Optimizer("Adam", "Adam")

SHAPES = [(3, 4), (4,), (2, 3, 2)]


def scenarios(rng) -> list[Scenario]:
    return [
        optimizer.scenario(rng, "one_step", SHAPES[:1], 1, {}),
        optimizer.scenario(rng, "multi", SHAPES[:3], 10, {"lr": 1e-2}),
        optimizer.scenario(rng, "weight_decay", SHAPES[:2], 5, {"lr": 1e-2, "weight_decay": 0.1}),
        optimizer.scenario(rng, "tiny", SHAPES[:2], 5, {"lr": 1e-2}, grad_scale=1e-6),
        optimizer.scenario(rng, "betas", SHAPES[:2], 4, {"lr": 5e-2, "betas": [0.8, 0.99], "eps": 1e-6}),
        # eps of 0.1: where eps sits (after the square root, unscaled) moves the update far
        # beyond tolerance in every seed, so an "epsilon-hat" form or a hard-coded eps that would
        # differ near 1e-7 with eps = 1e-8 cannot pass as rounding.
        optimizer.scenario(rng, "large_eps", SHAPES[:2], 4, {"lr": 1e-2, "eps": 0.1}),
    ]


CHECKS = [
    moves_check("torch.one_step", "one_step", "one step matches torch.optim.Adam"),
    moves_check("torch.multi", "multi", "10 steps, 3 parameters match torch.optim.Adam", points=2),
    moves_check("edge.weight_decay", "weight_decay", "weight_decay=0.1 (L2 added to the gradient)"),
    moves_check("edge.tiny", "tiny", "tiny gradients (~1e-6, where eps matters)"),
    moves_check("torch.betas", "betas", "custom betas, eps and lr"),
    moves_check("torch.large_eps", "large_eps", "eps = 0.1: eps added to sqrt(v_hat), as torch does"),
    optimizer.in_place_check("multi"),
    optimizer.grads_check("weight_decay"),
]


# ---- diagnosis: Adam re-run in NumPy with one known mistake switched on -------------------

def simulate(scenario, mistake: str | None = None) -> dict:
    """The parameters after the scenario's steps of Adam written with `mistake`."""
    a, steps = scenario.arrays, scenario.params["steps"]
    hyper = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, **scenario.params["hyper"]}
    lr, (b1, b2), eps, wd = hyper["lr"], hyper["betas"], hyper["eps"], hyper["weight_decay"]
    names = sorted(k[len("param."):] for k in a if k.startswith("param."))
    p = {n: a[f"param.{n}"].copy() for n in names}
    m = {n: np.zeros_like(p[n]) for n in names}
    v = {n: np.zeros_like(p[n]) for n in names}
    if mistake == "hardcoded_betas":
        b1, b2 = 0.9, 0.999
    if mistake == "hardcoded_eps":
        eps = 1e-8
    if mistake == "betas_swapped":  # everywhere: unpacked in the wrong order
        b1, b2 = b2, b1
    mb1, mb2 = (b2, b1) if mistake == "betas_swapped_in_moments" else (b1, b2)
    t = 1 if mistake == "step_counter_off_by_one" else 0
    with np.errstate(all="ignore"):
        for step in range(steps):
            if mistake not in ("step_counter_never_incremented", "step_counter_per_parameter"):
                t += 1
            for n in names:
                if mistake == "step_counter_per_parameter":
                    t += 1
                g = a[f"grad.{step}.{n}"]
                if wd and mistake not in ("decoupled_weight_decay", "weight_decay_ignored"):
                    g = g + wd * p[n]
                if mistake == "moments_reset_each_step":
                    m[n], v[n] = np.zeros_like(g), np.zeros_like(g)
                m[n] = mb1 * m[n] + (1 - mb1) * g
                v[n] = mb2 * v[n] + (1 - mb2) * g * g
                if mistake == "no_bias_correction":
                    m_hat, v_hat = m[n], v[n]
                elif mistake == "bias_correction_stored_in_moments":
                    m[n], v[n] = m[n] / (1 - b1**t), v[n] / (1 - b2**t)
                    m_hat, v_hat = m[n], v[n]
                elif mistake == "bias_correction_without_power":
                    m_hat, v_hat = m[n] / (1 - b1), v[n] / (1 - b2)
                else:
                    m_hat, v_hat = m[n] / (1 - b1**t), v[n] / (1 - b2**t)
                if mistake == "eps_inside_sqrt":
                    update = m_hat / np.sqrt(v_hat + eps)
                elif mistake == "missing_sqrt":
                    update = m_hat / (v_hat + eps)
                else:
                    update = m_hat / (np.sqrt(v_hat) + eps)
                if mistake == "epsilon_hat":  # the paper's efficient form: eps not scaled
                    step_size = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
                    update = m[n] / (np.sqrt(v[n]) + eps) * step_size / lr
                if mistake == "decoupled_weight_decay" and wd:
                    p[n] -= lr * wd * p[n]
                p[n] -= lr * update
    return p


def _simulated(mistake: str, evidence: str):
    variants = [mistake, "betas_swapped_in_moments"] if mistake == "betas_swapped" else [mistake]

    def test(p):
        return next(filter(None, (_matches_variant(p, v, mistake, evidence) for v in variants)), None)
    return test


def _matches_variant(p, variant: str, mistake: str, evidence: str):
    """Evidence when the learner's parameters equal Adam written with `variant`, else None."""
    if p.check.judge is not moves_like_reference:
        return None
    wrong = simulate(p.ev.scenarios[p.scenario], variant)
    got = {n: p.learner(p.scenario, f"param.{n}") for n in wrong}
    if any(g is None for g in got.values()):  # not finite, or not an array
        if mistake == "step_counter_never_incremented" and any(
                not np.all(np.isfinite(w)) for w in wrong.values()):
            return {"evidence": t("t stays 0, so 1 - beta**t is 0 and the update divides by zero")}
        return None
    right = p.reference()
    before = {n: p.inputs[f"param.{n}"] for n in wrong}
    # judged as the check judges: on displacements, at the update's own scale
    if all(close(got[n] - before[n], wrong[n] - before[n]) for n in wrong) and \
            not all(close(right[n] - before[n], wrong[n] - before[n]) for n in wrong):
        return {"evidence": t(evidence)}
    return None


# Which of step's statements holds each mistake's computation (the line to edit)
AT_CODE = {
    "no_bias_correction": r"_hat|sqrt", "bias_correction_without_power": r"_hat|\*\*",
    "bias_correction_stored_in_moments": r"_hat|\*\*|/\s*\(1", "epsilon_hat": r"sqrt",
    "step_counter_per_parameter": r"\bt\b\s*\+=|\.t\s*\+=|\bt\b\s*=", "step_counter_never_incremented": r"\bt\b",
    "step_counter_off_by_one": r"\bt\b\s*\+=|\.t\s*\+=|\bt\b\s*=", "eps_inside_sqrt": r"sqrt",
    "missing_sqrt": r"eps", "decoupled_weight_decay": r'(weight_decay|\bwd\b)\s*\*|\*\s*(self\.)?(weight_decay|wd)\b', "weight_decay_ignored": r'(weight_decay|\bwd\b)\s*\*|\*\s*(self\.)?(weight_decay|wd)\b',
    "betas_swapped": r"beta", "hardcoded_betas": r"0\.9|beta", "hardcoded_eps": r"1e-0?8|eps",
    "moments_reset_each_step": r"zeros", }

MISTAKES = [
    *[Mistake(name, says, _simulated(name, evidence), at_code=AT_CODE.get(name, ""))
      for name, says, evidence in [
        ("no_bias_correction", "the moments are used without bias correction: {evidence}. Divide "
         "m by (1 - beta1**t) and v by (1 - beta2**t)", "the update matches Adam with m_hat = m, v_hat = v"),
        ("bias_correction_without_power", "the bias correction lacks the power of t: {evidence}",
         "the update matches 1 - beta instead of 1 - beta**t"),
        ("step_counter_per_parameter", "t counts parameters, not steps: {evidence}. Increment t "
         "once per step, outside the loop over parameters",
         "the update matches t incremented inside the loop over parameters"),
        ("step_counter_never_incremented", "the step counter t never advances: {evidence}",
         "the update matches t stuck at 0"),
        ("step_counter_off_by_one", "t is off by one: {evidence}. The first step uses t = 1",
         "the update matches t = 2 on the first step"),
        ("eps_inside_sqrt", "eps went inside the square root: {evidence}. torch adds it after: "
         "sqrt(v_hat) + eps", "with gradients near 1e-6 the update matches sqrt(v_hat + eps)"),
        ("decoupled_weight_decay", "the weight decay is decoupled (AdamW): {evidence}. Adam adds "
         "weight_decay * p to the gradient before the moments",
         "the update matches p -= lr * wd * p applied separately"),
        ("weight_decay_ignored", "weight_decay is ignored: {evidence}",
         "the update matches Adam with weight_decay = 0"),
        ("betas_swapped", "beta1 and beta2 are swapped: {evidence}",
         "the update matches beta1 = 0.999 and beta2 = 0.9"),
        ("missing_sqrt", "the square root of v_hat is missing: {evidence}. Divide by "
         "sqrt(v_hat) + eps", "the update matches m_hat / (v_hat + eps)"),
        ("bias_correction_stored_in_moments", "the bias-corrected moments were stored back into m "
         "and v: {evidence}. Keep m and v raw; correct copies (m_hat, v_hat) each step",
         "the update matches m = m / (1 - beta1**t) kept between steps"),
        ("moments_reset_each_step", "the moments restart every step: {evidence}. Keep m and v "
         "between calls (in self)", "the update matches m and v reset to zero at each step"),
    ]],
    *[Mistake(name, says, _simulated(name, evidence), at_code=AT_CODE.get(name, ""))
      for name, says, evidence in [
        ("epsilon_hat", "that is the paper's \"epsilon-hat\" form: {evidence}. torch.optim.Adam adds eps "
         "to sqrt(v_hat), the bias-corrected v: p -= lr * m_hat / (sqrt(v_hat) + eps)",
         "the update matches lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t) with eps added to sqrt(v)"),
        ("hardcoded_betas", "betas are hard-coded: {evidence}. Use the betas given to the "
         "constructor", "the update matches betas = (0.9, 0.999) whatever the constructor was given"),
        ("hardcoded_eps", "eps is hard-coded: {evidence}. Use the eps given to the constructor",
         "the update matches eps = 1e-8 whatever the constructor was given"),
    ]],
]
