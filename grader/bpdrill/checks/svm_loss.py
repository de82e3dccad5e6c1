"""Hidden checks for svm_loss: CS231n's multiclass hinge loss, mean over N of the sum over j != y
of max(0, s_j - s_y + margin); dscores. The reference is built from torch ops (relu on the
margins, the j == y column masked), so a margin of exactly 0 has the derivative 0, as relu's."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import register
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
    loss.edge_check(SPEC, "edge.ties", "ties", "margins of exactly 0 contribute 0, as torch.relu's derivative at 0",
          "恰好为 0 的间隔项贡献为 0，与 torch.relu 在 0 处的导数一致"),
    loss.edge_check(SPEC, "edge.satisfied", "satisfied", "rows whose margins are all met get a gradient of 0",
          "所有间隔都已满足的行梯度为 0"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _call(p):
    """(raw margins s - s_y + 1 (N, C), y, dout) of the call the check is about."""
    suffix, dout = loss.call(p)
    s, y = p.inputs[f"scores{suffix}"], p.inputs[f"y{suffix}"].astype(int)
    return s - s[np.arange(len(y)), y][:, None] + 1.0, y, dout


def _rule(evidence, zh, weights=lambda m: m > 0, true_column=lambda w, y: -w.sum(axis=1), scale=lambda c: 1.0):
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
    return formula(evidence, candidate, zh=zh)


def _fancy(p):
    def candidate(p):
        m, y, dout = _call(p)
        d = (m > 0).astype(np.float64)
        d[np.arange(len(y)), y] = 0.0
        d[:, y] = -d.sum(axis=1)[:, None]
        return dout * d / len(y) if p.label == "dscores" else None
    return formula("d[:, y] = -count: every row gets every row's count in the columns y names",
                   candidate, zh="d[:, y] = -count：y 中出现过的每一列，每行都被写入了各行的计数")(p)


MISTAKES = [
    Mistake("hinge_counts_true_class", "the true class was counted as a violating class: {evidence}. "
            "The sum runs over j != y: zero the y column before counting",
            _rule("the y column holds -(count + 1): its own margin (= margin > 0) was counted",
                  "y 列为 -(count + 1)：它自己的间隔项（= margin > 0）也被计入了",
                  lambda m: m > 0, lambda d, y: -d.sum(axis=1) - 1.0),
            says_zh="把真实类别也算成了违反间隔的类别：{evidence}。求和只对 j != y：计数前先把 y 列清零",
            at_code=r"sum\("),
    Mistake("tie_counted_as_violation", "a margin of exactly 0 was counted as a violation: {evidence}. "
            "max(0, 0) = 0 contributes nothing: use margins > 0, not >= 0",
            _rule("got uses margins >= 0", "用了 margins >= 0", lambda m: m >= 0),
            says_zh="把恰好为 0 的间隔项当成了违反：{evidence}。max(0, 0) = 0 没有贡献：用 margins > 0，不要用 >= 0",
            at_code=r">=?\s*0"),
    Mistake("true_class_not_minus_count", "the true class's gradient is not minus the number of "
            "violating classes: {evidence}. s_y appears with a minus sign in every violating term",
            lambda p: _rule("the y column is 0", "y 列为 0", lambda m: m > 0, lambda d, y: 0.0)(p) or _rule(
                "the y column is -1", "y 列为 -1", lambda m: m > 0, lambda d, y: -1.0)(p),
            says_zh="真实类别的梯度不是负的违反类别个数：{evidence}。s_y 在每个违反间隔的项里都带负号出现一次",
            at_code=r"=\s*-\s*1(\.0)?$|-=\s*1(\.0)?$|sum\("),
    Mistake("margin_values_as_gradient", "the margins' values were used where their indicator belongs: "
            "{evidence}. d max(0, m) / dm is 1 where m > 0, else 0",
            _rule("d = max(0, margins) instead of (margins > 0)", "d = max(0, margins)，而不是 (margins > 0)",
                  lambda m: np.maximum(0.0, m)),
            says_zh="在该用指示函数的地方用了间隔项的值：{evidence}。d max(0, m) / dm 在 m > 0 时为 1，否则为 0",
            at_code=r"maximum|clip|=\s*(self\.)?margins$"),
    Mistake("divided_by_classes", "divided by the number of classes C as well: {evidence}. That is "
            "torch.nn.MultiMarginLoss's convention; CS231n's loss (this one) divides by N only",
            _rule("dscores is the right answer / C", "dscores 等于正确答案 / C", scale=lambda c: 1.0 / c),
            says_zh="还除以了类别数 C：{evidence}。那是 torch.nn.MultiMarginLoss 的约定；CS231n 的损失（本题）只除以 N",
            at_code=r"/\s*\(|shape\[1\]|/\s*c\b"),
    Mistake("fancy_indexing", "d[:, y] changes whole columns: {evidence}. Write one element per row "
            "with d[np.arange(N), y]", _fancy,
            says_zh="d[:, y] 改动了整列：{evidence}。用 d[np.arange(N), y] 每行只写一个元素",
            at_code=r"\[\s*:\s*,"),
]

register({"d[:, y] = -count: every row gets every row's count in the columns y names":
          "d[:, y] = -count：y 中出现过的每一列，每行都被写入了各行的计数"})
