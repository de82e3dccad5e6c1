"""The commands of interview rehearsal: ask (spoken questions), today (what is due), mock (a
whole round). Added to the command group by bpdrill.cli.main; Click only: parse,
call, print.

Input is read line by line from stdin. When stdin gives nothing at all (CI, no terminal,
`< /dev/null`), a question is shown with its answer and nothing is recorded.
"""
from __future__ import annotations

import difflib
import json
import secrets
import sys
import time

import click

from bpdrill import catalog, i18n
from bpdrill.practice import drill, history, interview, questions, srs, workspace
from bpdrill.grading import runner
from bpdrill.cli.common import FiniteRange, UsageProblem, common
from bpdrill.practice.record import record_checks
from bpdrill.practice.drill import format_seconds
from bpdrill.i18n import t
from bpdrill.grading.report import RunReport, render

RATING_WORDS = {"1": 1, "2": 2, "3": 3, "4": 4, "again": 1, "hard": 2, "good": 3, "easy": 4,
                "重来": 1, "困难": 2, "良好": 3, "简单": 4}
SECOND_EXERCISE_SECONDS = 5 * 60  # a mock sets a second exercise only with this much time left


def _rating_name(rating: int) -> str:
    return {1: t("again"), 2: t("hard"), 3: t("good"), 4: t("easy")}[rating]


def _line() -> str | None:
    """One line of input without its newline, or None at the end of input."""
    line = sys.stdin.readline()
    return None if line == "" else line.rstrip("\r\n")


def _open_deck(hist) -> srs.Deck:
    try:
        deck = srs.Deck(hist)
        deck.sync()
    except srs.SrsUnavailable as exc:
        raise UsageProblem(str(exc)) from None
    return deck


def due_exercise(hist) -> str | None:
    """For `drill --random`: the most overdue exercise (never the one just drilled), or None."""
    return _open_deck(hist).pick_exercise(catalog.names(), avoid=interview.last_drilled(hist))


# ---- one question -----------------------------------------------------------------------

def ask_one(q: questions.Question, deck: srs.Deck | None, answer: str | None = None, rating: int | None = None,
            source: str = "ask") -> dict:
    """Put one question, reveal the answer, take a self-rating and record it (deck: None records
    nothing). Returns what happened: {"question", "answered", "rating", "named", "missed"}."""
    lang = i18n.language()
    click.echo(click.style(t("Question [{topic}, {kind}, level {level}] ({id})", topic=q.topic, kind=_kind_word(q.kind),
                             level=q.level, id=q.id), bold=True))
    click.echo(q.text("question", lang) + "\n")
    ended = False
    if answer is None and rating is None:
        click.echo(t("Answer aloud (or type your answer; an empty line ends it). Press Enter to reveal the model answer."))
        typed = []
        while True:
            line = _line()
            if line is None:
                ended = True
                break
            if not line.strip():
                break
            typed.append(line)
        answer = "\n".join(typed) if typed else None
    click.echo("\n" + click.style(t("Model answer:"), bold=True))
    click.echo(q.text("answer", lang))
    click.echo("\n" + click.style(t("Key points:"), bold=True))
    ticks = q.ticks(answer) if answer else [None] * len(q.key_points)
    for point, tick in zip(q.key_points, ticks):
        mark = "-" if tick is None else ("[x]" if tick else "[ ]")
        click.echo(f"  {mark} {point.text(lang)}")
    missed = [p.en for p, tick in zip(q.key_points, ticks) if tick is False]
    if answer:
        click.echo(t("{named}/{total} key points named in your answer", named=sum(ticks), total=len(ticks)))
    result = {"question": q.id, "answered": bool(answer), "rating": None,
              "named": sum(1 for x in ticks if x), "missed": missed, "ended": ended}
    if rating is None and not ended:
        rating = _ask_rating()
        result["ended"] = rating is None
    if rating is None or deck is None:
        click.echo(t("no rating given: nothing recorded") if rating is None
                   else t("nothing recorded: the practice history cannot be opened"))
        return result
    due = deck.review(srs.question_item(q.id), rating, source=source)
    click.echo(t("recorded: {rating}; next review {when}", rating=_rating_name(rating),
                 when=srs.when_words(due, history.clock())))
    result["rating"] = srs.RATING_NAMES[rating]
    return result


def _kind_word(kind: str) -> str:
    return {"concept": t("concept"), "derivation": t("derivation"), "oral": t("oral"),
            "remedy": t("remedy")}.get(kind, kind)


def _ask_rating() -> int | None:
    while True:
        click.echo(t("How did it go? 1 again, 2 hard, 3 good, 4 easy: "), nl=False)
        line = _line()
        if line is None:
            click.echo()
            return None
        rating = RATING_WORDS.get(line.strip().lower())
        if rating is not None:
            return rating
        click.echo(t("please answer 1, 2, 3 or 4 (again, hard, good, easy)"))


def _resolve_pool(target: str | None) -> list[questions.Question]:
    if target is None:
        return list(questions.questions())
    if target in questions.ids():
        return [questions.get(target)]
    pool = questions.about(target)
    if pool:
        return pool
    known = [*questions.topics(), *catalog.names()]
    if target in known:
        raise UsageProblem(t("no questions about {topic} yet", topic=target))
    close = difflib.get_close_matches(target, [*known, *questions.ids()], n=1)
    suggestion = t(" (did you mean {name}?)", name=close[0]) if close else ""
    raise UsageProblem(t("unknown topic or question {name!r}{suggestion}; the topics are: {topics}",
                         name=target, suggestion=suggestion, topics=", ".join(questions.topics())))


@click.command()
@click.argument("target", required=False, metavar="[TOPIC|ID]")
@click.option("--answer", help="Your answer, typed (for scripts): matched against the key points.")
@click.option("--rating", type=click.Choice(["again", "hard", "good", "easy", "1", "2", "3", "4"]),
              help="Your self-rating (for scripts): recorded without asking.")
@common
def ask(session, target, answer, rating):
    """A spoken interview question: answer aloud or type, see the model answer, rate yourself."""
    pool = _resolve_pool(target)
    hist = session.history()
    deck = _open_deck(hist) if hist is not None and hist.db is not None else None
    q = deck.pick_question(pool) if deck is not None else pool[0]
    ask_one(q, deck, answer=answer, rating=RATING_WORDS[rating] if rating else None)


# ---- today ------------------------------------------------------------------------------

def _title(item: srs.Due) -> str:
    lang = i18n.language()
    try:
        if item.kind == "exercise":
            return catalog.get(item.key).text("title", lang)
        text = questions.get(item.key).text("question", lang)
    except KeyError:
        return ""
    return text if len(text) <= 70 else text[:67] + "..."


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a list.")
@common
def today(session, as_json):
    """What is due for review: exercises and questions, most overdue first."""
    hist = session.history()
    if hist is None or hist.db is None:
        raise UsageProblem(t("the review schedule lives in the practice history, which cannot be opened"))
    deck = _open_deck(hist)
    now = history.clock()
    due = deck.due(now)
    new_exercises = [n for n in catalog.names() if n not in deck.seen("exercise")]
    new_questions = [i for i in questions.ids() if i not in deck.seen("question")]
    if as_json:
        click.echo(json.dumps({"due": [{**srs.to_json(c), "overdue_seconds": now - c.due,
                                        "overdue_days": -srs.days_between(now, c.due),
                                        "when": srs.when_words(c.due, now)} for c in due],
                               "new_exercises": new_exercises, "new_questions": new_questions},
                              indent=2, ensure_ascii=False))
        return
    if not due:
        click.echo(t("nothing is due today."))
    else:
        click.echo(click.style(t("{count} due, most overdue first:", count=len(due)), bold=True))
        kinds = {"exercise": t("exercise"), "question": t("question")}
        for c in due:
            click.echo(f"  {kinds[c.kind]:<9} {c.key:<32} {srs.when_words(c.due, now):<18} "
                       f"{_title(c)}")
    click.echo(t("never practised: {exercises} exercises, {questions} questions",
                 exercises=len(new_exercises), questions=len(new_questions)))
    click.echo(t("next: bpdrill drill --random --interview (an exercise), bpdrill ask (a question), "
                 "or bpdrill mock (a whole round)"))


# ---- mock -------------------------------------------------------------------------------

def _coding_part(hist, deck, ws, name: str, limit_minutes: float, mock_id: int) -> dict:
    ex = catalog.get(name)
    lang = i18n.language()
    replaced = drill.replaced_line(hist.active_drill(str(ws)))
    if replaced:
        click.echo(replaced)
    started = interview.start(hist, ws, name, limit_minutes, mock_id)
    click.echo(click.style(t("Exercise: {title} ({name}), blank page", title=ex.text("title", lang), name=name),
                           bold=True))
    click.echo(t("Task: {task}", task=ex.text("task", lang)))
    click.echo(t("Edit: {file}", file=started.file))
    click.echo(t("Time limit: {limit}. The clock is running.", limit=format_seconds(started.drill.limit_seconds)))
    begun = history.clock()
    passed, score, stopped = False, None, False
    while True:
        click.echo(t("Press Enter when `bpdrill check {name}` passes, or type skip: ", name=name), nl=False)
        line = _line()
        if line is None or line.strip().lower() in ("skip", "跳过"):
            stopped = line is None
            if stopped:
                click.echo()
            break
        seed = secrets.randbelow(2**31)
        report = runner.run_checks({name: started.file}, seed)[0]
        score = [report.score, report.max_score]
        running = record_checks(hist, ws, [report], seed, {name: workspace.content_hash(started.file)})
        if report.status == "passed":
            passed = True
            click.echo(click.style(t("{name}: full marks in {time}", name=name,
                                     time=format_seconds(running.green_seconds if running and running.solved
                                                         else history.clock() - begun)), fg="green"))
            break
        click.echo(render(RunReport(seed, str(ws), [report]), style=click.style, plain=True))
        click.echo(t("not yet ({score}/{possible}): keep going.", score=report.score, possible=report.max_score))
    if not passed:
        hist.end_drill(started.drill.id)
        click.echo(t("{name}: not solved", name=name))
    mistakes = deck.diagnoses(started.drill.id)
    return {"kind": "exercise", "item": name, "passed": passed, "seconds": history.clock() - begun,
            "score": score, "missed": mistakes, "stopped": stopped}


def _question_part(deck, pool) -> dict:
    q = deck.pick_question(pool)
    begun = history.clock()
    result = ask_one(q, deck, source="mock")
    return {"kind": "question", "item": q.id, "passed": result["rating"] in ("hard", "good", "easy"),
            "rating": result["rating"], "seconds": history.clock() - begun, "missed": result["missed"],
            "stopped": result["ended"]}


@click.command()
@click.option("--minutes", type=FiniteRange(5, 600), default=45, show_default=True,
              help="The length of the round.")
@common
def mock(session, minutes):
    """A mock interview: a warm-up question, an exercise on a blank page, a follow-up question,
    and a second exercise if time remains; a summary at the end, kept in your history."""
    ws = session.workspace()
    hist = session.history()
    if hist is None or hist.db is None:
        raise UsageProblem(t("a mock interview needs the practice history, which cannot be opened"))
    deck = _open_deck(hist)
    mock_id = interview.start_mock(hist, minutes)
    deadline = history.clock() + 60 * minutes
    click.echo(click.style(t("Mock interview, {minutes} minutes: a warm-up question, a coding exercise on a "
                             "blank page, a follow-up question on it, and a second exercise if time remains.",
                             minutes=f"{minutes:g}"), bold=True))
    parts = []

    def part(number_title: str, run) -> bool:
        """Run one part and save the summary so far; False when the input ended (stop the round)."""
        click.echo("\n" + click.style(f"== {number_title} ==", bold=True))
        parts.append(run())
        interview.save_mock(hist, mock_id, parts)
        if parts[-1].get("stopped"):
            click.echo("\n" + t("no more input: the mock round stops here"))
        return not parts[-1].get("stopped")

    def left_minutes() -> float:
        return max(1.0, (deadline - history.clock()) / 60)

    def rounds():
        warmup = [q for q in questions.questions() if q.topic in questions.GENERAL_TOPICS]
        if not part(t("Part {n}: warm-up question", n=1), lambda: _question_part(deck, warmup)):
            return
        first = interview.pick_exercise(hist, deck, allowed=interview.gradeable())
        if not part(t("Part {n}: coding", n=2), lambda: _coding_part(
                hist, deck, ws, first, min(catalog.get(first).minutes, left_minutes()), mock_id)):
            return
        follow = questions.about(first) or questions.about("backprop")
        if not part(t("Part {n}: follow-up question on {name}", n=3, name=first),
                    lambda: _question_part(deck, follow)):
            return
        if deadline - history.clock() < SECOND_EXERCISE_SECONDS:
            click.echo("\n" + t("no time left for a second exercise"))
            return
        second = interview.pick_exercise(hist, deck, avoid=[first], allowed=interview.gradeable())
        part(t("Part {n}: coding", n=4), lambda: _coding_part(
            hist, deck, ws, second, min(catalog.get(second).minutes, left_minutes()), mock_id))

    rounds()
    interview.save_mock(hist, mock_id, parts, ended=True)
    click.echo("\n" + summary(parts, minutes))


def summary(parts: list, minutes: float) -> str:
    """The end of a mock round: each part's result and time, and the points missed."""
    lines = [click.style(t("Mock interview summary"), bold=True)]
    kinds = {"exercise": t("exercise"), "question": t("question")}
    for number, p in enumerate(parts, 1):
        if p["kind"] == "exercise":
            result = t("passed") if p["passed"] else t("not solved")
        else:
            result = _rating_name(srs.RATINGS[p["rating"]]) if p.get("rating") else t("not rated")
        lines.append(f"  {number}. {kinds[p['kind']]:<9} {p['item']:<32} {result:<12} {format_seconds(p['seconds'])}")
        for missed in p.get("missed") or []:
            lines.append("       " + t("missed: {point}", point=_missed_text(p, missed)))
    total = sum(p["seconds"] for p in parts)
    passed = sum(1 for p in parts if p["passed"])
    lines.append(t("{passed}/{count} parts passed in {time} (of {limit})", passed=passed, count=len(parts),
                   time=format_seconds(total), limit=format_seconds(60 * minutes)))
    return "\n".join(lines)


def _missed_text(part: dict, missed: str) -> str:
    """A missed key point (stored in English) or mistake id, in the learner's language."""
    if part["kind"] == "exercise":
        from bpdrill.core.plain import named
        from bpdrill.grading import registry
        try:
            mistakes = getattr(registry.get(part["item"]).module, "MISTAKES", ())
        except (KeyError, ImportError):
            mistakes = ()
        return named(missed, mistakes)
    try:
        for point in questions.get(part["item"]).key_points:
            if point.en == missed:
                return point.text(i18n.language())
    except KeyError:
        pass
    return missed


# ---- what stats adds --------------------------------------------------------------------

def stats_extra(hist) -> tuple[dict, list[str]]:
    """Interview-mode times, mock rounds and the review schedule: (JSON, lines of text)."""
    if hist is None or hist.db is None:
        return {"interview": [], "mocks": [], "reviews": None}, []
    rows = [interview.interview_stats(hist, name) for name in catalog.names()]
    rows = [r for r in rows if r.attempts]
    rounds = interview.mocks(hist)
    deck = srs.Deck(hist)
    try:
        deck.sync()
    except srs.SrsUnavailable:  # the schedule cannot be brought up to date: show it as it stands
        pass
    cards, due = deck.cards(), deck.due()
    doc = {"interview": [r.to_json() for r in rows], "mocks": [m.to_json() for m in rounds],
           "reviews": {"cards": len(cards), "due": len(due)}}
    lines = []
    if rows:
        lines += ["", click.style(t("Interview mode (blank page, no hints): time to green"), bold=True)]
        cols = (t("exercise"), t("drills"), t("solved"), t("best"), t("median"))
        lines.append(f"{cols[0]:<12} {cols[1]:>6} {cols[2]:>6} {cols[3]:>8} {cols[4]:>8}")
        for r in rows:
            best = format_seconds(r.best_seconds) if r.best_seconds is not None else "-"
            median = format_seconds(r.median_seconds) if r.median_seconds is not None else "-"
            lines.append(f"{r.exercise:<12} {r.attempts:>6} {r.solved:>6} {best:>8} {median:>8}")
    if rounds:
        lines += ["", click.style(t("Mock interviews"), bold=True)]
        for m in rounds:
            passed = sum(1 for p in m.parts if p.get("passed"))
            spent = sum(p.get("seconds", 0) for p in m.parts)
            items = ", ".join(p["item"] for p in m.parts if p["kind"] == "exercise")
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.started))
            lines.append(t("{when}: {passed}/{count} parts passed in {time} ({exercises})", when=when,
                           passed=passed, count=len(m.parts), time=format_seconds(spent), exercises=items or "-"))
    if cards:
        lines += ["", t("spaced repetition: {cards} items reviewed, {due} due now (bpdrill today)",
                        cards=len(cards), due=len(due))]
    return doc, lines
