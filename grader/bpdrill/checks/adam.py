"""Hidden checks for adam: torch.optim.Adam's arithmetic, in place, over several steps; each known
mistake recognised by re-running Adam in NumPy with that one mistake switched on."""
from __future__ import annotations

import functools

import numpy as np

from bpdrill.kinds import optimizer
from bpdrill.kinds.optimizer import Run

SPEC = optimizer.Optimizer("Adam", "Adam")

SHAPES = [(3, 4), (4,), (2, 3, 2)]
MULTI, WEIGHT_DECAY = "multi", "weight_decay"

RUNS = [
    Run("torch", "one_step", "one step matches torch.optim.Adam", SHAPES[:1], 1),
    Run("torch", MULTI, "10 steps, 3 parameters match torch.optim.Adam", SHAPES, 10, {"lr": 1e-2},
        points=2),
    Run("edge", WEIGHT_DECAY, "weight_decay=0.1 (L2 added to the gradient)", SHAPES[:2], 5,
        {"lr": 1e-2, "weight_decay": 0.1}),
    Run("edge", "tiny", "tiny gradients (~1e-6, where eps matters)", SHAPES[:2], 5, {"lr": 1e-2},
        grad_scale=1e-6),
    Run("torch", "betas", "custom betas, eps and lr", SHAPES[:2], 4,
        {"lr": 5e-2, "betas": [0.8, 0.99], "eps": 1e-6}),
    # eps of 0.1: where eps sits moves the update far beyond tolerance in every seed, so an
    # "epsilon-hat" form or a hard-coded eps (a difference near 1e-7 at eps = 1e-8) shows
    Run("torch", "large_eps", "eps = 0.1: eps added to sqrt(v_hat), as torch does", SHAPES[:2], 4,
        {"lr": 1e-2, "eps": 0.1}),
]

scenarios = optimizer.scenarios_of(RUNS)

CHECKS = [*(run.moves_check() for run in RUNS), optimizer.in_place_check(MULTI),
          optimizer.grads_check(WEIGHT_DECAY)]


# ---- diagnosis: Adam re-run in NumPy with one known mistake switched on -------------------

# mistakes that amount to other constructor arguments than those given
OTHER_ARGUMENTS = {"weight_decay_ignored": {"weight_decay": 0.0}, "hardcoded_eps": {"eps": 1e-8},
                   "hardcoded_betas": {"betas": (0.9, 0.999)}}


def simulate(scenario, mistake: str | None = None, adamw: bool = False) -> dict:
    """The parameters after the scenario's steps of Adam written with `mistake` (adamw: AdamW, whose
    decay p *= 1 - lr * wd, decoupled from the gradient, comes before the step)."""
    hyper = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2 if adamw else 0.0,
             **scenario.params["hyper"], **OTHER_ARGUMENTS.get(mistake, {})}
    lr, eps, wd = hyper["lr"], hyper["eps"], hyper["weight_decay"]
    b1, b2 = hyper["betas"][::-1] if mistake == "betas_swapped" else hyper["betas"]  # unpacked wrongly
    decoupled = mistake == "decoupled_weight_decay" or (adamw and mistake != "coupled_weight_decay")
    decay = (1 - wd if mistake == "decay_without_lr" else 1 - lr * wd) if decoupled else 1.0
    decay_before, decay_after = (1.0, decay) if mistake == "decay_after_step" else (decay, 1.0)
    mb1, mb2 = (b2, b1) if mistake == "betas_swapped_in_moments" else (b1, b2)
    p = {n: scenario[f"param.{n}"] for n in scenario.keys_with_prefix("param.")}
    m, v = {n: np.zeros_like(p[n]) for n in p}, {n: np.zeros_like(p[n]) for n in p}
    t = 1 if mistake == "step_counter_off_by_one" else 0
    with np.errstate(all="ignore"):
        for step in range(scenario.params["steps"]):
            if mistake not in ("step_counter_never_incremented", "step_counter_per_parameter"):
                t += 1
            for n in p:
                if mistake == "step_counter_per_parameter":
                    t += 1
                g = scenario[f"grad.{step}.{n}"]
                if wd and not decoupled:
                    g = g + wd * p[n]
                p[n] *= decay_before
                if mistake == "moments_reset_each_step":
                    m[n], v[n] = np.zeros_like(g), np.zeros_like(g)
                m[n] = mb1 * m[n] + (1 - mb1) * g
                v[n] = mb2 * v[n] + (1 - mb2) * g * g
                power = 1 if mistake == "bias_correction_without_power" else t
                bc1, bc2 = (1.0, 1.0) if mistake == "no_bias_correction" else (1 - b1**power, 1 - b2**power)
                m_hat, v_hat = m[n] / bc1, v[n] / bc2
                if mistake == "bias_correction_stored_in_moments":
                    m[n], v[n] = m_hat, v_hat
                root = np.sqrt(v_hat + eps) if mistake == "eps_inside_sqrt" else np.sqrt(v_hat) + eps
                update = m_hat / (v_hat + eps if mistake == "missing_sqrt" else root)
                if mistake == "epsilon_hat":  # the paper's efficient form: eps not scaled
                    update = m[n] / (np.sqrt(v[n]) + eps) * np.sqrt(1 - b2**t) / (1 - b1**t)
                p[n] = (p[n] - lr * update) * decay_after
    return p


_mistake = functools.partial(optimizer.simulated_mistake, simulate)
COUNTER = r"\bt\b\s*\+=|\.t\s*\+=|\bt\b\s*="  # where step advances t

MISTAKES = [
    _mistake("no_bias_correction", "the moments are used without bias correction: {evidence}. Divide "
             "m by (1 - beta1**t) and v by (1 - beta2**t)",
             "the update matches Adam with m_hat = m, v_hat = v", r"_hat|sqrt"),
    _mistake("bias_correction_without_power", "the bias correction lacks the power of t: {evidence}",
             "the update matches 1 - beta instead of 1 - beta**t", r"_hat|\*\*"),
    _mistake("step_counter_per_parameter", "t counts parameters, not steps: {evidence}. Increment t "
             "once per step, outside the loop over parameters",
             "the update matches t incremented inside the loop over parameters", COUNTER),
    _mistake("step_counter_never_incremented", "the step counter t never advances: {evidence}",
             "the update matches t stuck at 0", r"\bt\b",
             diverged="t stays 0, so 1 - beta**t is 0 and the update divides by zero"),
    _mistake("step_counter_off_by_one", "t is off by one: {evidence}. The first step uses t = 1",
             "the update matches t = 2 on the first step", COUNTER),
    _mistake("eps_inside_sqrt", "eps went inside the square root: {evidence}. torch adds it after: "
             "sqrt(v_hat) + eps", "with gradients near 1e-6 the update matches sqrt(v_hat + eps)", r"sqrt"),
    _mistake("decoupled_weight_decay", "the weight decay is decoupled (AdamW): {evidence}. Adam adds "
             "weight_decay * p to the gradient before the moments",
             "the update matches p -= lr * wd * p applied separately", optimizer.WEIGHT_DECAY_CODE),
    _mistake("weight_decay_ignored", "weight_decay is ignored: {evidence}",
             "the update matches Adam with weight_decay = 0", optimizer.WEIGHT_DECAY_CODE),
    _mistake("betas_swapped", "beta1 and beta2 are swapped: {evidence}", "the update matches beta1 = "
             "0.999 and beta2 = 0.9", r"beta", also=("betas_swapped_in_moments",)),
    _mistake("missing_sqrt", "the square root of v_hat is missing: {evidence}. Divide by "
             "sqrt(v_hat) + eps", "the update matches m_hat / (v_hat + eps)", r"eps"),
    _mistake("bias_correction_stored_in_moments", "the bias-corrected moments were stored back into m "
             "and v: {evidence}. Keep m and v raw; correct copies (m_hat, v_hat) each step",
             "the update matches m = m / (1 - beta1**t) kept between steps", r"_hat|\*\*|/\s*\(1"),
    _mistake("moments_reset_each_step", "the moments restart every step: {evidence}. Keep m and v "
             "between calls (in self)", "the update matches m and v reset to zero at each step", r"zeros"),
    _mistake("epsilon_hat", "that is the paper's \"epsilon-hat\" form: {evidence}. torch.optim.Adam adds eps "
             "to sqrt(v_hat), the bias-corrected v: p -= lr * m_hat / (sqrt(v_hat) + eps)",
             "the update matches lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t) with eps added to sqrt(v)",
             r"sqrt"),
    _mistake("hardcoded_betas", "betas are hard-coded: {evidence}. Use the betas given to the "
             "constructor", "the update matches betas = (0.9, 0.999) whatever the constructor was given",
             r"0\.9|beta"),
    _mistake("hardcoded_eps", "eps is hard-coded: {evidence}. Use the eps given to the constructor",
             "the update matches eps = 1e-8 whatever the constructor was given", r"1e-0?8|eps"),
]
