"""Interview rehearsal: blank pages, spoken questions, spaced repetition, mock rounds."""
from __future__ import annotations

import ast
import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bpdrill.practice import blank, history, interview, questions, skeleton, srs
from bpdrill import catalog, i18n
from bpdrill.cli import interview as interview_cli
from bpdrill.cli.main import cli
from conftest import wrong_fixture, solution_path
# env: a fresh workspace and data folder (history, schedule) per test (clock, history.clock faked, is conftest's)
from test_drill import env, solve  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def english_after():
    """--lang zh sets the process's language: every test leaves it English."""
    yield
    i18n.set_language("en")


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def stats_json() -> dict:
    return json.loads(run("stats", "--json").output)


def today_json() -> dict:
    return json.loads(run("today", "--json").output)


# ---- blank pages ------------------------------------------------------------------------

def _normal(text: str) -> str:
    return re.sub(r"\s+", "", text.lower()).replace("1.0", "1")


OPERAND = r"[A-Za-z_][\w.\[\]]*(?:\([^()]*\))?|\([^()]*\)|\d+(?:\.\d+)?"
FORMULA = re.compile(rf"(?:{OPERAND})(?:\s*(?:\*\*|[-+*/@])\s*(?:{OPERAND}))+")


def hint_formulas(name: str) -> set[str]:
    """Every expression with an operator in the exercise's formula and outline hints (2 and 3)."""
    found = set()
    for hint in catalog.get(name).hints[1:]:
        for line in hint.splitlines():
            line = re.sub(r"^\s*\d+\.\s*", "", line)
            for m in FORMULA.finditer(line):
                if len(_normal(m.group())) >= 5:
                    found.add(m.group())
    return found


def given_text(source: str) -> str:
    """What a blank page may state: the code it keeps, and the math of the forward (the
    forward's docstring, the first line of a class's), normalised."""
    tree = ast.parse(source)
    code = [line for line in source.splitlines() if not line.lstrip().startswith(("#", '"""'))]
    forward = [ast.get_docstring(n) or "" for n in ast.walk(tree)
               if isinstance(n, ast.FunctionDef) and n.name in ("forward", "sigmoid", "__init__")]
    forward += [(ast.get_docstring(n) or "").split("\n")[0] for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    return _normal("\n".join(code + forward + [ast.get_docstring(tree).split("\n\n")[0]]))


@pytest.mark.parametrize("name", catalog.names())
def test_a_blank_page_parses_and_states_no_formula_of_the_hints(name):
    text = blank.blank_for(name)
    ast.parse(text)
    assert "raise NotImplementedError" in text and "BEGIN TODO" not in text
    prose = _normal(text)
    given = given_text(text)
    leaked = sorted(f for f in hint_formulas(name) if _normal(f) in prose and _normal(f) not in given)
    assert not leaked, f"{name}: the blank page states hint formulas {leaked}"
    assert not [line for line in text.splitlines()[1:] if line.lstrip().startswith("#")], "comments stay"


@pytest.mark.parametrize("name,formula", [
    ("sigmoid", "s * (1 - s)"), ("adam", "1 - beta"), ("linear", "x.T @ dout"), ("mlp", "h * (1 - h)"),
    ("adam", "m / (1 - beta1 ** t)"), ("autograd", "reverse topological order"),
])
def test_known_formulas_of_the_hints_are_not_on_the_blank_page(name, formula):
    assert _normal(formula) in _normal("\n".join(catalog.get(name).hints)) or formula == "1 - beta"
    assert _normal(formula) not in _normal(blank.blank_for(name))


def test_the_practice_skeleton_does_state_what_the_blank_page_drops():
    """So the blank test above has teeth: the same search finds Adam's update in practice."""
    practice = skeleton_path_text("adam")
    assert _normal("1 - beta1") in _normal(practice)
    assert _normal("1 - beta1") not in _normal(blank.blank_for("adam"))


def skeleton_path_text(name: str) -> str:
    return skeleton.make_skeleton(solution_path(name).read_text(encoding="utf-8"), name)


def test_a_blank_page_keeps_signatures_shapes_forward_and_the_task():
    text = blank.blank_for("linear")
    for kept in ("class Linear:", "def __init__(self, in_features, out_features, rng=None):",
                 "def forward(self, x):", "return x @ self.W + self.b", "def backward(self, dout):",
                 "Your task: write `Linear.backward`", "Inputs: dout (N, out_features)",
                 "Returns: dx (N, in_features)", "- W: (in_features, out_features)"):
        assert kept in text, kept
    assert "every example adds to the bias" not in text  # a comment of the solution's TODO
    mlp = blank.blank_for("mlp")
    assert "loss = -(1/N)" not in mlp and "z1 = X @ p[\"W1\"] + p[\"b1\"]" in mlp


@pytest.mark.parametrize("name", interview.gradeable())
def test_drill_interview_lays_the_blank_page_and_the_grader_says_not_started(env, name):
    result = run("drill", name, "--interview")
    assert result.exit_code == 0, result.output
    assert "Interview mode" in result.output and "bpdrill hint" not in result.output
    assert (env / f"{name}.py").read_text() == blank.blank_for(name)
    doc = json.loads(run("check", name, "--json", "--seed", "4").output)
    assert doc["exercises"][0]["status"] == "not_started"


def test_hint_is_refused_during_an_interview_drill_and_given_in_practice(env):
    run("drill", "linear", "--interview")
    refused = run("hint", "linear")
    assert refused.exit_code == 2 and "no hints in an interview drill" in refused.output
    assert run("hint", "sigmoid").exit_code == 0  # another exercise: not the interview's
    run("drill", "linear")
    assert run("hint", "linear").exit_code == 0


def test_an_interview_diagnosis_says_what_and_where_but_not_the_fix(env):
    wrong = wrong_fixture("linear", "dW_transposed").read_text()
    run("drill", "linear")
    (env / "linear.py").write_text(wrong)
    practice = run("check", "linear", "--seed", "2").output
    assert "and its transpose is right" in practice
    run("drill", "linear", "--interview")
    (env / "linear.py").write_text(wrong)
    plain = run("check", "linear", "--seed", "2").output
    assert "looks like: the gradient is transposed (in Linear.backward" in plain, plain
    assert "its transpose is right" not in plain and "transpose of the right answer" not in plain
    doc = json.loads(run("check", "linear", "--seed", "2", "--json").output)
    assert any(c["diagnosis"] and c["diagnosis"]["name"] == "transposed" for c in doc["exercises"][0]["checks"])


def test_every_mistake_the_readme_lists_has_a_plain_description_in_both_languages():
    from bpdrill.core import mistakes as generic
    from bpdrill.core import plain
    from bpdrill.core.diagnose import Diagnosis
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### The mistakes bpdrill recognises")[1].split("\n### ")[0]
    listed = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert len(listed) > 40
    from bpdrill.core import diagnose
    from bpdrill.grading import registry
    mistakes = [*generic.GENERIC, *(m for n in registry.names() for m in registry.get(n).mistakes)]
    english = plain.descriptions()
    clauses = {m.name for m in mistakes if diagnose.first_clause(m.says)}
    assert not sorted(set(listed) - set(english) - clauses - {"input_modified_in_place",
                                                                "no_requires_grad_propagation"})
    i18n.set_language("zh")
    try:
        chinese = plain.descriptions()
        written = {m.name for m in mistakes if CJK.search(diagnose.first_clause(i18n.t(m.says)))}
        assert all(CJK.search(chinese.get(name, "")) or name in written or name in english for name in listed)
    finally:
        i18n.set_language("en")
    unknown = plain.describe(Diagnosis("brand_new_mistake", "advice", 3, " (in f, x.py:3)"))
    assert unknown == "a known mistake: brand_new_mistake (in f, x.py:3)"


def test_interview_times_are_kept_apart_from_practice_and_stats_shows_both(env, clock):
    run("drill", "linear")
    clock.advance(300)
    (env / "linear.py").write_text(solution_path("linear").read_text())
    assert run("check", "linear", "--seed", "1").exit_code == 0
    run("drill", "linear", "--interview")
    clock.advance(180)
    (env / "linear.py").write_text(solution_path("linear").read_text())
    assert run("check", "linear", "--seed", "1").exit_code == 0
    doc = stats_json()
    practice = next(e for e in doc["exercises"] if e["exercise"] == "linear")
    rehearsed = next(e for e in doc["interview"] if e["exercise"] == "linear")
    assert (practice["attempts"], practice["best_seconds"]) == (1, 300)
    assert (rehearsed["attempts"], rehearsed["best_seconds"]) == (1, 180)
    text = run("stats").output
    assert "Interview mode (blank page, no hints)" in text and "3:00" in text and "5:00" in text


# ---- the question bank ------------------------------------------------------------------

def test_the_question_file_is_complete_in_both_languages_with_unique_ids():
    qs = questions.questions()
    assert len(qs) >= 56
    ids = [q.id for q in qs]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    topics = set(catalog.names()) | set(questions.GENERAL_TOPICS)
    for q in qs:
        assert re.fullmatch(r"[a-z0-9_]+", q.id), q.id
        assert q.topic in topics, (q.id, q.topic)
        assert q.kind in ("derivation", "concept", "oral", "remedy"), q.id
        assert 1 <= q.level <= 4, q.id
        for field in ("question", "answer"):
            assert getattr(q, field).strip(), (q.id, field)
            assert CJK.search(getattr(q, f"{field}_zh")), (q.id, field)
        assert 2 <= len(q.key_points) <= 5, q.id
        for point in q.key_points:
            assert point.en.strip() and CJK.search(point.zh) and point.match, (q.id, point.en)
            for pattern in point.match:
                assert pattern == pattern.lower() or pattern.startswith("re:"), (q.id, pattern)
                if pattern.startswith("re:"):
                    re.compile(pattern[3:])


def test_each_model_answer_names_every_key_point_in_both_languages():
    """So a typed answer as good as the model's ticks every point, in English or Chinese."""
    for q in questions.questions():
        assert all(q.ticks(q.answer)), (q.id, [p.en for p, ok in zip(q.key_points, q.ticks(q.answer)) if not ok])
        assert all(q.ticks(q.answer_zh)), (q.id, [p.en for p, ok in zip(q.key_points, q.ticks(q.answer_zh)) if not ok])


def test_key_points_match_as_the_file_says():
    q = questions.get("linear_gradients")
    full = q.ticks("dx = dout @ W.T ; dW = x.T @ dout ; db = dout.sum(axis=0), every gradient has the shape of its variable")
    assert sum(full) >= 3
    assert q.ticks("I   DON'T \n know") == [False] * len(q.key_points)
    assert questions.KeyPoint("x", "x", ("(c,)",)).named_in("shape (C,)")  # substring, not a regex
    assert questions.KeyPoint("x", "x", (r"re:\bn\b",)).named_in("divide by  N")


# ---- ask --------------------------------------------------------------------------------

def test_ask_shows_the_question_reveals_the_answer_and_records_a_self_rating(env, clock):
    result = run("ask", "linear_gradients", input="\n3\n")
    assert result.exit_code == 0, result.output
    q = questions.get("linear_gradients")
    assert q.question.strip()[:40] in result.output and q.answer.strip()[:30] in result.output
    assert "recorded: good" in result.output
    assert [c["item"] for c in today_json()["due"]] == []  # good: not due again at once
    clock.advance(86400 * 30)
    assert "question:linear_gradients" in [c["item"] for c in today_json()["due"]]


def test_a_typed_answer_ticks_the_key_points_it_names(env, clock):
    result = run("ask", "linear_gradients", input="dx = dout @ W.T\ndW = x.T @ dout\n\n2\n")
    assert "[x] dx = dout W^T, shape (N, in)" in result.output
    assert "[x] dW = x^T dout, shape (in, out)" in result.output
    assert "[ ] db = dout summed over the batch axis" in result.output
    assert "2/4 key points named in your answer" in result.output
    assert "recorded: hard" in result.output


def test_ask_without_input_prints_question_and_answer_and_records_nothing(env):
    result = run("ask", "sigmoid")
    assert result.exit_code == 0
    assert "Model answer:" in result.output and "nothing recorded" in result.output
    assert today_json()["new_questions"] == questions.ids()


def test_ask_for_scripts_takes_answer_and_rating(env, clock):
    result = run("ask", "linear_gradients", "--answer", "dW = x.T @ dout", "--rating", "easy")
    assert result.exit_code == 0 and "[x]" in result.output and "recorded: easy" in result.output
    assert "linear_gradients" not in today_json()["new_questions"]


def test_ask_by_topic_draws_a_question_of_that_topic_and_unknown_topics_are_usage_errors(env):
    result = run("ask", "adam", "--rating", "good")
    assert any(q.question.strip()[:30] in result.output for q in questions.about("adam"))
    bad = run("ask", "adamw_nonsense")
    assert bad.exit_code == 2 and "unknown topic or question" in bad.output


def test_ask_in_chinese(env):
    result = run("ask", "linear_gradients", "--lang", "zh")
    assert questions.get("linear_gradients").question_zh.strip()[:10] in result.output
    assert "参考答案" in result.output and "Model answer" not in result.output


# ---- spaced repetition ------------------------------------------------------------------

def test_drill_ratings_follow_time_hints_and_diagnoses():
    assert srs.drill_rating(False, False, None, 10, 0, 0) == srs.AGAIN
    assert srs.drill_rating(True, True, 60, 10, 0, 0) == srs.AGAIN
    assert srs.drill_rating(True, False, 60, 10, 3, 0) == srs.AGAIN
    assert srs.drill_rating(True, False, 900, 10, 0, 0) == srs.HARD
    assert srs.drill_rating(True, False, 240, 10, 1, 0) == srs.HARD
    assert srs.drill_rating(True, False, 240, 10, 0, 2) == srs.HARD
    assert srs.drill_rating(True, False, 420, 10, 0, 0) == srs.GOOD
    assert srs.drill_rating(True, False, 240, 10, 0, 0) == srs.EASY


def test_an_item_failed_today_is_due_before_one_answered_easily(tmp_path, clock):
    hist = history.History.open(tmp_path / "h.sqlite3")
    deck = srs.Deck(hist)
    deck.review(srs.question_item("relu_derivative"), srs.EASY)
    deck.review(srs.question_item("tanh_derivative"), srs.AGAIN)
    clock.advance(3600)
    assert deck.due() == [], "nothing answered today is due again today, not even a failure"
    clock.now = srs.next_day(clock.now) + 60  # just after midnight
    due = [c.item for c in deck.due()]
    assert due == ["question:tanh_derivative"]
    clock.advance(86400 * 2)
    assert deck.due()[0].item == "question:tanh_derivative"  # most overdue first
    hist.close()


@pytest.mark.parametrize("rating", [srs.AGAIN, srs.HARD, srs.GOOD, srs.EASY])
def test_an_item_answered_at_any_hour_is_not_due_again_that_day(tmp_path, clock, rating):
    hist = history.History.open(tmp_path / "h.sqlite3")
    deck = srs.Deck(hist)
    for hour in range(0, 24, 3):
        clock.now = srs.day_start(1_000_000.0) + hour * 3600 + 60
        due = deck.review(srs.question_item(f"q{hour}"), rating)
        assert due >= srs.next_day(clock.now)
        assert f"question:q{hour}" not in [c.item for c in deck.due()]
    hist.close()


def test_when_words_count_days():
    now = srs.day_start(1_000_000.0) + 20 * 3600  # 8 in the evening
    assert srs.when_words(now + 5 * 3600, now) == "tomorrow"  # 1 a.m. the next day
    assert srs.when_words(now + 3 * 86400, now) == "in 3 days"
    assert srs.when_words(now - 3600, now) == "due today"
    assert srs.when_words(now - 2 * 86400, now) == "overdue by 2 days"
    assert srs.when_words(now - 86400, now) == "overdue by 1 day"


def test_three_hours_after_solving_an_exercise_it_is_not_due(env, clock):
    run("drill", "linear")
    clock.advance(120)
    solve(env, "linear")
    assert run("check", "linear", "--seed", "1").exit_code == 0
    clock.advance(3 * 3600)
    assert today_json()["due"] == []
    assert "nothing is due" in run("today").output


def test_drills_feed_the_schedule_and_drill_random_serves_what_is_due(env, clock):
    run("drill", "linear", "--minutes", "10")
    clock.advance(120)
    run("drill", "sigmoid")  # linear ends unsolved: again
    clock.advance(60)
    (env / "sigmoid.py").write_text(solution_path("sigmoid").read_text())
    assert run("check", "sigmoid", "--seed", "1").exit_code == 0  # 1 minute of 5: easy
    clock.advance(86400)
    due = today_json()["due"]
    assert [c["item"] for c in due] == ["exercise:linear"]
    assert due[0]["last_rating"] == "again"
    hist = history.History.open()
    assert {r["item"]: r["rating"] for r in srs.Deck(hist).reviews()} == \
        {"exercise:linear": srs.AGAIN, "exercise:sigmoid": srs.EASY}
    hist.close()
    result = run("drill", "--random")
    assert "(linear)" in result.output.splitlines()[0]
    text = run("today").output
    assert "nothing is due today" in text or "exercise:linear" not in text


def test_diagnosed_mistakes_make_a_fast_drill_hard(env, clock):
    run("drill", "linear", "--interview")
    for fixture in ("dW_transposed", "db_not_summed"):
        (env / "linear.py").write_text(wrong_fixture("linear", fixture).read_text())
        run("check", "linear", "--seed", "3")
    clock.advance(120)  # past interview.RESTORE_SECONDS: a fast solve, not a copy restored
    (env / "linear.py").write_text(solution_path("linear").read_text())
    run("check", "linear", "--seed", "3")
    hist = history.History.open()
    deck = srs.Deck(hist)
    deck.sync()
    assert [r["rating"] for r in deck.reviews()] == [srs.HARD]
    hist.close()


def test_the_schedule_tables_are_created_when_the_history_file_is_opened(env):
    history.History.open().close()
    db = sqlite3.connect(str(history.data_dir() / "history.sqlite3"))
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert {"srs_cards", "srs_reviews", "drill_diagnoses", "interview_drills", "mocks", "drills"} <= tables


def test_an_unreadable_history_costs_the_record_not_the_question(env, tmp_path, monkeypatch):
    (tmp_path / "data").write_text("a file where the data folder should be")
    result = CliRunner().invoke(cli, ["ask", "relu_derivative", "--rating", "good"])
    assert result.exit_code == 0 and "Model answer:" in result.stdout
    assert "no practice history this time" in result.stderr and "recorded: good" not in result.stdout
    assert "nothing recorded: the practice history cannot be opened" in result.stdout
    assert run("today").exit_code == 2


# ---- mock rounds ------------------------------------------------------------------------

@pytest.fixture
def slow_learner(monkeypatch, clock):
    """Every line the learner types (or Enter) takes a minute of the round."""
    real = interview_cli._line

    def line():
        clock.advance(60)
        return real()
    monkeypatch.setattr(interview_cli, "_line", line)


@pytest.fixture
def solving_learner(monkeypatch, slow_learner):
    """The learner of a mock round solves each blank page (the solution written over it)."""
    real = interview.lay_blank

    def lay_and_solve(ws, name):
        kept = real(ws, name)
        (ws / f"{name}.py").write_text(solution_path(name).read_text())
        return kept
    monkeypatch.setattr(interview, "lay_blank", lay_and_solve)


def test_a_mock_round_runs_every_part_and_keeps_a_summary(env, solving_learner):
    # warm-up (reveal, good), exercise (Enter: passes), follow-up (typed, hard), second exercise (Enter)
    result = run("mock", "--minutes", "45", input="\n3\n\nsome words\n\n2\n\n")
    assert result.exit_code == 0, result.output
    out = result.output
    for part in ("Part 1: warm-up question", "Part 2: coding", "Part 3: follow-up question on",
                 "Part 4: coding", "Mock interview summary"):
        assert part in out, part
    assert "4/4 parts passed in 7:00 (of 45:00)" in out
    first = re.search(r"Part 3: follow-up question on (\w+)", out)[1]
    assert first in interview.gradeable()
    follow = re.search(r"Question \[(\w+),", out.split("Part 3")[1])[1]
    assert follow == first or not questions.about(first)
    doc = stats_json()
    assert len(doc["mocks"]) == 1
    parts = doc["mocks"][0]["parts"]
    assert [p["kind"] for p in parts] == ["question", "exercise", "question", "exercise"]
    assert parts[1]["passed"] and parts[1]["seconds"] == 60 and parts[3]["passed"]
    assert parts[1]["item"] != parts[3]["item"]
    assert {e["exercise"] for e in doc["interview"]} == {parts[1]["item"], parts[3]["item"]}
    assert "Mock interviews" in run("stats").output


def test_a_mock_exercise_can_be_skipped_and_a_short_round_has_no_second_exercise(env, slow_learner):
    result = run("mock", "--minutes", "5", input="\n1\nskip\n\n4\n")
    assert result.exit_code == 0, result.output
    assert "not solved" in result.output and "no time left for a second exercise" in result.output
    parts = stats_json()["mocks"][0]["parts"]
    assert [p["kind"] for p in parts] == ["question", "exercise", "question"]
    assert not parts[1]["passed"]
    assert parts[0]["rating"] == "again" and parts[2]["rating"] == "easy"


def test_a_mock_check_that_fails_shows_the_plain_diagnosis_and_waits(env, monkeypatch, clock):
    wrong = wrong_fixture("linear", "dW_transposed").read_text()
    real = interview.lay_blank

    def lay_wrong(ws, name):
        kept = real(ws, name)
        if name == "linear":
            (ws / "linear.py").write_text(wrong)
        return kept
    monkeypatch.setattr(interview, "lay_blank", lay_wrong)
    result = run("mock", "--minutes", "10", input="\n3\n\nskip\n\n3\n")  # linear: never drilled, first
    assert "Part 2: coding" in result.output and "(linear)" in result.output
    assert "the gradient is transposed" in result.output and "its transpose is right" not in result.output
    assert "not yet" in result.output


def test_mock_in_chinese(env, slow_learner):
    result = run("mock", "--minutes", "5", "--lang", "zh", input="\n3\nskip\n\n3\n")
    assert "模拟面试" in result.output and "Mock interview" not in result.output


def test_a_mock_round_without_input_shows_the_warm_up_and_stops_before_any_exercise(env):
    result = run("mock")
    assert result.exit_code == 0, result.output
    assert "Model answer:" in result.output and "the mock round stops here" in result.output
    assert "Part 2" not in result.output
    doc = stats_json()
    assert doc["interview"] == [] and [p["kind"] for p in doc["mocks"][0]["parts"]] == ["question"]
    assert doc["reviews"]["cards"] == 0  # nothing rated, nothing scheduled


def test_drill_random_interview_lays_a_blank_page_and_list_calls_it_not_started(env):
    result = run("drill", "--random", "--interview")
    assert result.exit_code == 0, result.output
    name = re.search(r"\((\w+)\)$", result.output.splitlines()[0])[1]
    assert (env / f"{name}.py").read_text() == blank.blank_for(name)
    rows = {r["name"]: r for r in json.loads(run("list", "--json").output)["exercises"]}
    assert rows[name]["status"] == "not_started"


def test_watch_during_an_interview_drill_gives_the_plain_diagnosis(env):
    from bpdrill.cli.practice import _watch_round
    run("drill", "linear", "--interview")
    (env / "linear.py").write_text(wrong_fixture("linear", "dW_transposed").read_text())
    hist = history.History.open()
    line = _watch_round("linear", env / "linear.py", env, hist, 5.0)
    hist.close()
    assert "the gradient is transposed" in line and "its transpose is right" not in line


# ---- interview mode stays with its exercise (issue 20) ----------------------------------

def test_an_interview_drill_of_one_exercise_leaves_another_exercises_diagnoses_whole(env, clock):
    run("drill", "mse", "--interview")
    (env / "linear.py").write_text(wrong_fixture("linear", "dW_transposed").read_text())
    other = run("check", "linear", "--seed", "2").output
    assert "and its transpose is right" in other, "linear reads as in practice mode"
    assert "drill mse" not in other, "no clock line of an unrelated drill"
    assert "drill" not in json.loads(run("check", "linear", "--seed", "2", "--json").output)
    both = run("check", "mse", "linear", "--seed", "2").output
    assert "drill mse" in both and "and its transpose is right" in both


def test_starting_a_drill_while_one_runs_says_what_happens_to_it(env, clock):
    run("drill", "linear")
    clock.advance(75)
    out = run("drill", "sigmoid", "--interview").output
    assert "the drill of linear that was running (1:15 elapsed) ends here, unsolved" in out
    clock.advance(10)
    assert "the drill of sigmoid that was running (0:10 elapsed)" in run("drill", "relu").output


def test_an_interview_attempt_restored_from_an_earlier_one_is_not_a_time(env, clock):
    run("drill", "mlp")
    clock.advance(600)
    solve(env, "mlp")
    assert run("check", "mlp", "--seed", "1").exit_code == 0  # a real solve: 10:00
    run("drill", "mlp", "--interview")  # the solved file is kept in .attempts/
    clock.advance(2)
    kept = sorted((env / ".attempts").glob("mlp-*.py"))[-1]
    (env / "mlp.py").write_text(kept.read_text())
    out = run("check", "mlp", "--seed", "1").output
    assert "recorded as restored, not as a time" in out
    hist = history.History.open()
    last = hist.drills("mlp")[-1]
    assert last.restored and last.green_seconds is None and last.ended is not None
    srs.Deck(hist).sync()
    assert [r["rating"] for r in srs.Deck(hist).reviews() if r["item"] == "exercise:mlp"] == [srs.EASY], \
        "the restored drill gets no review: only the real solve has one"
    hist.close()
    assert [r["best_seconds"] for r in stats_json()["interview"]] == [None]


def test_an_interview_attempt_written_slowly_is_a_time_even_when_it_equals_the_solution(env, clock):
    run("drill", "sigmoid", "--interview")
    clock.advance(240)
    solve(env, "sigmoid")
    assert "solved in 4:00" in run("check", "sigmoid", "--seed", "1").output


def test_the_mock_summary_names_missed_mistakes_in_words(env):
    from bpdrill.cli.interview import summary
    part = {"kind": "exercise", "item": "conv2d", "passed": False, "seconds": 60,
            "missed": ["dx_padding_not_cropped", "transposed"]}
    text = summary([part], 45)
    assert "dx_padding_not_cropped" not in text and "dx still has the padding on" in text
    assert "the gradient is transposed" in text


def test_chinese_question_headers_translate_the_kind(env):
    out = run("--lang", "zh", "ask", "linear_gradients", "--rating", "good").output
    assert "derivation" not in out.splitlines()[0] and "推导" in out.splitlines()[0]
    assert "明天" in out or "天后" in out


def test_lang_and_workspace_before_the_command_and_names_without_case(env, tmp_path):
    assert "工作区" in run("--lang", "zh", "list").output
    other = tmp_path / "other"
    assert str(other) in run("--workspace", str(other), "list").output
    result = run("check", "LSTM")
    assert result.exit_code == 1 and "lstm" in result.output and "unknown exercise" not in result.output
    near = run("check", "lstn")
    assert near.exit_code == 2 and "did you mean lstm" in near.output


# ---- explain (issue 20) -------------------------------------------------------------------

@pytest.mark.parametrize("name", catalog.names())
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_explain_shows_a_worked_derivation_for_every_exercise(env, name, lang):
    out = run("explain", name.upper(), "--lang", lang).output
    heads = ("**What", "**The formula", "**Traps") if lang == "en" else ("为什么", "**公式", "**陷阱")
    assert all(head in out for head in heads), out[:300]
    if lang == "zh":
        assert CJK.search(out)


def test_the_derivation_is_shown_once_after_the_first_full_marks(env, clock):
    run("list")  # lays the workspace
    solve(env, "relu")
    first = run("check", "relu", "--seed", "1").output
    assert "First full marks for relu" in first and "**Traps.**" in first
    again = run("check", "relu", "--seed", "2").output
    assert "First full marks" not in again and "**Traps.**" not in again
    assert "**Traps.**" in run("explain", "relu").output


def test_explain_during_a_running_drill_of_it_asks_first(env, clock):
    run("drill", "tanh")
    refused = run("explain", "tanh", input="n\n")
    assert "not shown; the drill goes on" in refused.output and "**Traps" not in refused.output
    assert history.History.open().active_drill(str(env)) is not None
    shown = run("explain", "tanh", input="y\n")
    assert "**Traps" in shown.output
    hist = history.History.open()
    assert hist.active_drill(str(env)) is None and hist.drills("tanh")[-1].solution_seen
    hist.close()


# ---- stats --plot (issue 20) ---------------------------------------------------------------

def test_stats_plot_charts_time_to_green_over_attempts(env, clock):
    for minutes in (6, 3):
        run("drill", "linear")
        clock.advance(60 * minutes)
        solve(env, "linear")
        run("check", "linear", "--seed", "1")
        clock.advance(86400)
    run("drill", "linear")
    clock.advance(30)
    run("drill", "relu")  # linear's third attempt ends unsolved
    out = run("stats", "--plot").output
    line = next(line for line in out.splitlines() if line.strip().startswith("linear"))
    assert "█▅×" in line and "first 6:00, last 3:00, best 3:00" in line
    doc = json.loads(run("stats", "--plot", "--json").output)
    assert [a["green_seconds"] for a in doc["exercises"]["linear"]] == [360, 180, None]
    pytest.importorskip("matplotlib")
    assert doc["png"] and Path(doc["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stats_plot_with_no_drills_says_how_to_start(env):
    out = run("stats", "--plot").output
    assert "no drills yet" in out


def _two_failures_one_cause(name: str):
    from bpdrill.core.diagnose import Diagnosis
    from bpdrill.grading.report import CheckResult, ExerciseReport
    cause = Diagnosis("transposed", "dW is the transpose of the right answer: your dW has shape (3, 2)",
                      place=" (in Linear.backward, linear.py:40)", what="dW is the transpose of the right answer")
    checks = [CheckResult(f"torch.{n}", f"dW matches PyTorch ({n})", "torch", "dW", False, 0, 1, "off",
                          diagnosis=cause) for n in ("square", "batch")]
    return ExerciseReport(name, f"{name}.py", 0, 2, "failed", checks)


def test_the_report_says_one_more_check_in_the_singular_and_plainness_per_exercise():
    from bpdrill.grading.report import RunReport, render
    report = RunReport(1, "ws", [_two_failures_one_cause("linear"), _two_failures_one_cause("mse")])
    text = render(report, plain={"mse"})
    assert "also fails 1 more check:" in text and "1 more checks" not in text
    linear, mse = text.split("\nmse")
    assert "your dW has shape" in linear, "linear in full"
    assert "your dW has shape" not in mse and "the gradient is transposed (in Linear.backward" in mse
