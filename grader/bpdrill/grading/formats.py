"""A run's report in other shapes: an HTML table (Jupyter, the local page), Gradescope's
results.json and GitHub Classroom's autograding result. The terminal's text is report.render."""
from __future__ import annotations

import html

from bpdrill.grading.report import ExerciseReport, RunReport, diagnosis_text, root_cause
from bpdrill.i18n import t

_COLOUR = {"passed": "#1a7f37", "partial": "#9a6700", "failed": "#cf222e", "not_started": "#6e7781",
           "error": "#cf222e"}


def status_text(status: str) -> str:
    return {"passed": t("passed"), "partial": t("partial"), "failed": t("failed"),
            "not_started": t("not started"), "error": t("error")}[status]


def _check_output(c, plain: bool = False) -> str:
    """A failed check in one paragraph: what is wrong, and the known mistake with its line."""
    parts = [c.message]
    if c.diagnosis is not None:
        where = f" ({t('line {line}', line=c.diagnosis.line)})" if c.diagnosis.line else ""
        parts.append(f"{t('looks like:')} {diagnosis_text(c.diagnosis, plain)}{where}")
    return "\n".join(p for p in parts if p)


# ---- HTML -------------------------------------------------------------------------------

def html_table(report: RunReport, plain: bool = False) -> str:
    """The terminal's table as HTML: each exercise, its score and status, and every failed
    check with its message and diagnosis (at its line). Self-contained (inline styles), so it
    shows the same in Jupyter, in an exported notebook and on the local page."""
    e = html.escape
    out = ['<div class="bpdrill-report" style="font-family: sans-serif; font-size: 0.95em">',
           f'<div style="color:#6e7781">{e(t("seed {seed}  (repeat with --seed {seed})", seed=report.seed))}</div>']
    for ex in report.exercises:
        out.append(_exercise_html(ex, plain))
    total = sum(x.score for x in report.exercises)
    possible = sum(x.max_score for x in report.exercises)
    out.append(f'<div style="margin-top:0.5em"><b>{e(t("total {score}/{possible}", score=total, possible=possible))}'
               '</b></div></div>')
    return "\n".join(out)


def _exercise_html(ex: ExerciseReport, plain: bool) -> str:
    e = html.escape
    colour = _COLOUR[ex.status]
    rows = [f'<tr><th style="text-align:left" colspan="3">{e(ex.name)} '
            f'<span class="bpdrill-score">{ex.score}/{ex.max_score}</span> '
            f'<span class="bpdrill-status" style="color:{colour}">{e(status_text(ex.status))}</span></th></tr>']
    if ex.message:
        rows.append(f'<tr><td colspan="3"><pre style="margin:0;white-space:pre-wrap">{e(ex.message)}</pre></td></tr>')
    groups: dict = {}  # one root cause: the failed checks render() lists under one entry
    for c in ex.checks:
        if not c.passed and c.diagnosis is not None:
            groups.setdefault(root_cause(c), []).append(c)
    for c in ex.checks:
        if not c.passed and ex.message and c.message == ex.message:
            continue  # the exercise's message says it once (not started, crashed ...)
        group = groups.get(root_cause(c), [c]) if c.diagnosis is not None else [c]
        if not c.passed and c is not group[0]:
            continue  # listed under the first check of its root cause
        mark = (f'<span style="color:#1a7f37">{e(t("ok"))}</span>' if c.passed
                else f'<span style="color:#cf222e">{e(t("FAIL"))}</span>')
        detail = "" if c.passed else e(_check_output(c, plain)).replace("\n", "<br>")
        if len(group) > 1:
            detail += "<br>" + e(t("the same cause also fails {count} more checks:", count=len(group) - 1))
            detail += "<ul style=\"margin:0\">" + "".join(f"<li>{e(o.shown or o.name)} {e(_where(o))}</li>"
                                                        for o in group[1:]) + "</ul>"
        rows.append(f'<tr class="bpdrill-check" style="vertical-align:top"><td>{mark}</td>'
                    f'<td>{e(c.shown or c.name)} <span style="color:#6e7781">{e(_where(c))}</span></td>'
                    f'<td>{detail}</td></tr>')
    if ex.output.strip():
        printed = "\n".join(ex.output.strip().splitlines()[:40])
        rows.append(f'<tr><td colspan="3">{e(t("your code printed:"))}<pre style="margin:0">{e(printed)}</pre></td></tr>')
    return ('<table style="border-collapse:collapse;margin-top:0.5em;text-align:left">'
            + "".join(rows) + "</table>")


def _where(c) -> str:
    return f"[{c.kind}{', ' + c.target if c.target else ''}]"


# ---- Gradescope -------------------------------------------------------------------------

def gradescope(report: RunReport) -> dict:
    """Gradescope's results.json: the total score, and one test per check (name, score,
    max_score, status "passed" or "failed", output: the message and the diagnosis)."""
    tests = []
    for ex in report.exercises:
        for number, c in enumerate(ex.checks, 1):
            output = "" if c.passed else _check_output(c)
            if not c.passed and ex.message and c.message == ex.message:
                output = ex.message
            tests.append({"name": f"{ex.name}: {c.name}", "number": f"{ex.name}.{number}",
                          "score": c.score, "max_score": c.max_score,
                          "status": "passed" if c.passed else "failed", "output": output,
                          "visibility": "visible"})
    total = sum(ex.score for ex in report.exercises)
    summary = "\n".join(f"{ex.name}: {ex.score}/{ex.max_score} {ex.status}" for ex in report.exercises)
    return {"score": total, "output": t("seed {seed}  (repeat with --seed {seed})", seed=report.seed) + "\n" + summary,
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


# ---- GitHub Classroom -------------------------------------------------------------------

def github(report: RunReport) -> dict:
    """GitHub Classroom's autograding result (version 1, as its grading reporter reads it from
    a runner's base64-encoded `result` output): one test per check, "pass" or "fail", with
    its message and the line of the learner's file at fault."""
    tests = []
    for ex in report.exercises:
        for c in ex.checks:
            line = c.diagnosis.line if c.diagnosis is not None and c.diagnosis.line else None
            tests.append({"name": f"{ex.name}: {c.name}", "status": "pass" if c.passed else "fail",
                          "message": "" if c.passed else (_check_output(c) or ex.message),
                          "score": c.score, "max_score": c.max_score, "filename": ex.file,
                          "line_no": line, "test_code": f"bpdrill check {ex.name} --seed {report.seed}"})
    if any(ex.status == "error" for ex in report.exercises):
        status = "error"
    else:
        status = "pass" if report.all_passed else "fail"
    return {"version": 1, "status": status, "max_score": sum(ex.max_score for ex in report.exercises),
            "tests": tests}
