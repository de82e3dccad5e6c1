"""The curves of `bpdrill explore vanishing` and what each one shows, in the learner's
language, and the bars that draw a curve in a terminal.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from bpdrill.i18n import t


@dataclass(frozen=True)
class Curve:
    key: str
    activation: str
    init: str
    residual: bool = False
    batchnorm: bool = False

    @property
    def label(self) -> str:
        """The curve's name in the learner's language."""
        return self.english_label.replace(" + residual", " + " + t("residual"))

    @property
    def english_label(self) -> str:
        """The curve's name on a plot (the default fonts have no Chinese)."""
        init = {"naive": "N(0, 1)", "xavier": "Xavier", "he": "He"}[self.init]
        name = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU"}[self.activation]
        extra = (" + residual" if self.residual else "") + (" + BatchNorm" if self.batchnorm else "")
        return f"{name}, {init}{extra}"


CURVES = {c.key: c for c in (
    Curve("sigmoid", "sigmoid", "xavier"), Curve("tanh", "tanh", "xavier"), Curve("relu", "relu", "xavier"),
    Curve("relu_naive", "relu", "naive"), Curve("relu_he", "relu", "he"),
    Curve("sigmoid_residual", "sigmoid", "xavier", residual=True),
    Curve("relu_residual", "relu", "xavier", residual=True),
    Curve("tanh_naive", "tanh", "naive"), Curve("tanh_naive_bn", "tanh", "naive", batchnorm=True),
    Curve("relu_naive_bn", "relu", "naive", batchnorm=True),
)}
# (title, curves) of each panel: one question each
PANELS = (
    ("activation (Xavier init: variance 1/fan_in)", ("sigmoid", "tanh", "relu")),
    ("initialisation (ReLU)", ("relu_naive", "relu", "relu_he")),
    ("residual connections", ("sigmoid", "sigmoid_residual", "relu", "relu_residual")),
    ("BatchNorm (N(0, 1) init)", ("tanh_naive", "tanh_naive_bn", "relu_naive", "relu_naive_bn")),
)


def panel_title(title: str) -> str:
    return {"activation (Xavier init: variance 1/fan_in)": t("activation (Xavier init: variance 1/fan_in)"),
            "initialisation (ReLU)": t("initialisation (ReLU)"),
            "residual connections": t("residual connections"),
            "BatchNorm (N(0, 1) init)": t("BatchNorm (N(0, 1) init)")}[title]


def what_it_shows(key: str, ratio: float, level: float) -> str:
    """One sentence per curve: what it shows (ratio: first layer's norm over the last layer's)."""
    r, v = short_number(ratio), short_number(level)
    return {
        "sigmoid": t("the first layer gets {ratio} of the last layer's gradient: every sigmoid multiplies it "
                     "by its slope, at most 1/4, so it vanishes layer after layer", ratio=r),
        "tanh": t("tanh's slope is near 1 around 0, so with Xavier init the gradient shrinks only mildly "
                  "(first/last {ratio})", ratio=r),
        "relu": t("ReLU zeroes half the units, and Xavier's variance 1/fan_in does not make up for it: the "
                  "gradient halves in variance at each layer (first/last {ratio})", ratio=r),
        "relu_naive": t("N(0, 1) weights multiply the gradient by about sqrt(fan_in / 2) at each layer: it "
                        "explodes toward the input (first/last {ratio})", ratio=r),
        "relu_he": t("He init (variance 2/fan_in) makes up for the half ReLU zeroes: the gradient keeps its "
                     "size through every layer (first/last {ratio})", ratio=r),
        "sigmoid_residual": t("with x + f(x) the gradient has a path that skips every sigmoid: it no longer "
                              "vanishes (first/last {ratio})", ratio=r),
        "relu_residual": t("the same ReLU layers with x + f(x): the identity path carries the gradient down "
                           "whole and every branch adds to it, so it grows toward the input instead of "
                           "shrinking (first/last {ratio})", ratio=r),
        "tanh_naive": t("N(0, 1) weights saturate most tanh units, but multiply the gradient by about "
                        "sqrt(fan_in) at each layer; the weights win, and it explodes toward the input "
                        "(first/last {ratio})", ratio=r),
        "tanh_naive_bn": t("BatchNorm rescales every pre-activation to variance 1 whatever the weights: tanh "
                           "stays in its linear range (first/last {ratio})", ratio=r),
        "relu_naive_bn": t("BatchNorm divides out the N(0, 1) weights' scale: across the whole depth the "
                           "gradient now changes by a factor {ratio}, around {level}", ratio=r, level=v),
    }[key]


def short_number(value: float) -> str:
    if not np.isfinite(value):
        return t("overflow")
    return f"{value:.0e}" if value and (abs(value) >= 1e3 or abs(value) < 1e-2) else f"{value:.3g}"


# ---- the terminal's bars ---------------------------------------------------------------------

def _unicode_ok() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or ""
    return encoding.lower().replace("-", "") in ("utf8", "utf16", "utf32")


COLUMNS = 40  # at most this many bars a row: deeper networks share a bar between layers


def _columns(values: np.ndarray) -> np.ndarray:
    """values, or for more than COLUMNS of them the geometric mean of each run of neighbours."""
    values = np.asarray(values, dtype=float)
    if len(values) <= COLUMNS:
        return values
    with np.errstate(all="ignore"):
        return np.array([np.exp(np.mean(np.log(g))) if np.all(np.isfinite(g) & (g > 0)) else
                         (np.inf if not np.all(np.isfinite(g)) else 0.0)
                         for g in np.array_split(values, COLUMNS)])


def bars(values: np.ndarray, low: float, high: float) -> str:
    """One character per value (per run of values beyond COLUMNS), its height on a log scale
    from low to high."""
    values = _columns(values)
    ramp = "▁▂▃▄▅▆▇█" if _unicode_ok() else "_.-:=+*#"
    span = math.log10(high) - math.log10(low) if high > low > 0 else 0.0
    out = []
    for v in values:
        if not np.isfinite(v) or v <= 0:
            out.append("!" if not np.isfinite(v) else " ")
            continue
        level = 0 if span == 0 else (math.log10(v) - math.log10(low)) / span
        out.append(ramp[min(len(ramp) - 1, max(0, int(round(level * (len(ramp) - 1)))))])
    return "".join(out)
