"""Hidden checks for svm_loss: CS231n's multiclass hinge loss, mean over N of the sum over j != y
of max(0, s_j - s_y + margin); dscores. The reference is built from torch ops (relu on the
margins, the j == y column masked), so a margin of exactly 0 has the derivative 0, as relu's."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import loss


def _torch(torch, scores, y):
    margins = torch.relu(scores - scores.gather(1, y[:, None]) + 1.0)
    others = torch.ones_like(margins).scatter(1, y[:, None], 0.0)  # j == y masked out
    return (margins * others).sum() / scores.shape[0]


SPEC = loss.Loss("MulticlassHingeLoss", _torch, inputs=("scores",), fixed=("y",), numgrad_points=2,
                 batch="scores")


def draw(rng, n: int) -> dict:
    """Scores about the margin, none within 0.01 of a kink (central differences stay valid)."""
    c = int(rng.integers(3, 7))
    y = loss.labels(rng, n, c)
    scores = rng.normal(size=(n, c))
    while True:
        near = np.abs(scores - scores[np.arange(n), y][:, None] + 1.0) < 0.01
        near[np.arange(n), y] = False
        if not near.any():
            return {"scores": scores, "y": y}
        scores[near] += 0.05


def _ties(rng, n: int, c: int) -> dict:
    """Scores on a grid of quarters, every row with a class exactly at the margin:
    s_j - s_y + 1 == 0 in float64 (plus whatever other exact ties the grid makes)."""
    y = loss.labels(rng, n, c)
    scores = rng.integers(-8, 9, size=(n, c)) / 4.0
    for i in range(n):
        j = (y[i] + 1 + int(rng.integers(c - 1))) % c  # a class other than y_i
        scores[i, j] = scores[i, y[i]] - 1.0
    return {"scores": scores, "y": y}


def scenarios(rng) -> list[Scenario]:
    n, c = (int(v) for v in rng.permutation(range(3, 8))[:2])
    satisfied = draw(rng, n)
    satisfied["scores"][np.arange(n)[: n // 2], satisfied["y"][: n // 2]] += 5.0  # half the rows: loss 0
    return [*loss.standard(SPEC, draw, rng),
            Scenario("ties", "backward", _ties(rng, n, c), {"dout": float(rng.uniform(1.25, 2.5))}),
            Scenario("satisfied", "backward", satisfied, {"dout": float(rng.uniform(1.25, 2.5))})]


CHECKS = [
    *loss.checks(SPEC, "basic"),
    loss.default_dout_check(SPEC),
    loss.edge_check(SPEC, "edge.ties", "ties", "margins of exactly 0 contribute 0, as torch.relu's derivative at 0"),
    loss.edge_check(SPEC, "edge.satisfied", "satisfied", "rows whose margins are all met get a gradient of 0"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _call(p):
    """(raw margins s - s_y + 1 (N, C), y, dout) of the call the check is about."""
    suffix, dout = loss.call(p)
    s, y = p.inputs[f"scores{suffix}"], p.inputs[f"y{suffix}"].astype(int)
    return s - s[np.arange(len(y)), y][:, None] + 1.0, y, dout


def _rule(evidence, weights=lambda m: m > 0, true_column=lambda w, y: -w.sum(axis=1), scale=lambda c: 1.0):
    """dscores = dout * d / N * scale(C), d = weights(margins) on j != y and true_column(d, y) at y."""
    def candidate(p):
        if p.label != "dscores":
            return None
        m, y, dout = _call(p)
        n, rows = len(y), np.arange(len(y))
        d = weights(m).astype(np.float64)
        d[rows, y] = 0.0
        d[rows, y] = true_column(d, y)
        return dout * d / n * scale(d.shape[1])
    return formula(evidence, candidate)


def _fancy(p):
    def candidate(p):
        m, y, dout = _call(p)
        d = (m > 0).astype(np.float64)
        d[np.arange(len(y)), y] = 0.0
        d[:, y] = -d.sum(axis=1)[:, None]
        return dout * d / len(y) if p.label == "dscores" else None
    return formula("d[:, y] = -count: every row gets every row's count in the columns y names", candidate)(p)


MISTAKES = [
    Mistake("hinge_counts_true_class", "the true class was counted as a violating class: {evidence}. "
            "The sum runs over j != y: zero the y column before counting",
            _rule("the y column holds -(count + 1): its own margin (= margin > 0) was counted",
                  lambda m: m > 0, lambda d, y: -d.sum(axis=1) - 1.0),
            at_code=r"sum\("),
    Mistake("tie_counted_as_violation", "a margin of exactly 0 was counted as a violation: {evidence}. "
            "max(0, 0) = 0 contributes nothing: use margins > 0, not >= 0",
            _rule("got uses margins >= 0", lambda m: m >= 0), at_code=r">=?\s*0"),
    Mistake("true_class_not_minus_count", "the true class's gradient is not minus the number of "
            "violating classes: {evidence}. s_y appears with a minus sign in every violating term",
            lambda p: _rule("the y column is 0", lambda m: m > 0, lambda d, y: 0.0)(p) or _rule(
                "the y column is -1", lambda m: m > 0, lambda d, y: -1.0)(p),
            at_code=r"=\s*-\s*1(\.0)?$|-=\s*1(\.0)?$|sum\("),
    Mistake("margin_values_as_gradient", "the margins' values were used where their indicator belongs: "
            "{evidence}. d max(0, m) / dm is 1 where m > 0, else 0",
            _rule("d = max(0, margins) instead of (margins > 0)", lambda m: np.maximum(0.0, m)),
            at_code=r"maximum|clip|=\s*(self\.)?margins$"),
    Mistake("divided_by_classes", "divided by the number of classes C as well: {evidence}. That is "
            "torch.nn.MultiMarginLoss's convention; CS231n's loss (this one) divides by N only",
            _rule("dscores is the right answer / C", scale=lambda c: 1.0 / c),
            at_code=r"/\s*\(|shape\[1\]|/\s*c\b"),
    Mistake("fancy_indexing", "d[:, y] changes whole columns: {evidence}. Write one element per row "
            "with d[np.arange(N), y]", _fancy, at_code=r"\[\s*:\s*,"),
]
