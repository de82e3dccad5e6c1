"""bpdrill in Jupyter: a real notebook executed in a real kernel (nbclient with ipykernel).

The magic's cell is the learner's code: it must be written to the workspace (the old attempt
kept), graded in a worker (never in the kernel) and its report shown under the cell.
"""
from __future__ import annotations

import json

import pytest

from bpdrill.practice import workspace
from conftest import solution_path, wrong_fixture

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

# A line the learner's code runs at import: if the cell ran in the kernel, the kernel would have it.
MARK = "import builtins; builtins.BPDRILL_RAN_IN_THE_KERNEL = True\n"


@pytest.fixture(autouse=True)
def home(monkeypatch, tmp_path):
    """The kernel's IPython and Jupyter folders in this test's own (existing) home."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()


def run(cells: list[str], tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb.cells


def texts(cell) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            parts.append(out.data.get("text/html", "") + out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append("ERROR " + out.ename + ": " + out.evalue)
    return "\n".join(parts)


def test_a_right_answer_in_a_cell_gets_full_marks_graded_outside_the_kernel(tmp_path):
    ws = tmp_path / "ws"
    workspace.ensure(ws)
    earlier = "# my earlier attempt\n" + workspace.skeleton_path("sigmoid").read_text(encoding="utf-8")
    (ws / "sigmoid.py").write_text(earlier, encoding="utf-8")
    answer = MARK + solution_path("sigmoid").read_text(encoding="utf-8")

    cells = run(["%load_ext bpdrill",
                 f"%%bpdrill sigmoid --workspace {ws} --seed 11\n{answer}",
                 "import builtins, sys\n"
                 "print(json.dumps({'ran': hasattr(builtins, 'BPDRILL_RAN_IN_THE_KERNEL'),"
                 " 'torch': 'torch' in sys.modules}))" .replace("json.dumps", "__import__('json').dumps")],
                tmp_path)

    graded = cells[1]
    html = [o.data["text/html"] for o in graded.outputs if o.output_type == "display_data"]
    assert len(html) == 1, texts(graded)
    assert "8/8" in html[0] and "passed" in html[0]
    assert "seed 11" in html[0]
    assert (ws / "sigmoid.py").read_text(encoding="utf-8") == answer
    kept = list((ws / workspace.ATTEMPTS).glob("sigmoid-*.py"))
    assert [p.read_text(encoding="utf-8") for p in kept] == [earlier]
    assert "kept at" in texts(graded)
    # The learner's module was imported by a worker, not by the kernel; nor did grading load torch there.
    assert json.loads(cells[2].outputs[0].text) == {"ran": False, "torch": False}


def test_a_wrong_answer_shows_the_diagnosis_at_its_line_and_a_bad_name_one_line(tmp_path):
    ws = tmp_path / "ws"
    wrong = wrong_fixture("sigmoid", "derivative_on_preactivation").read_text(encoding="utf-8")
    cells = run(["%load_ext bpdrill",
                 f"%%bpdrill sigmoid --workspace {ws} --seed 11\n{wrong}",
                 f"%%bpdrill sigmod --workspace {ws}\nprint('never run')\n"],
                tmp_path)
    shown = texts(cells[1])
    assert "FAIL" in shown and "/8" in shown and "8/8" not in shown
    assert "looks like:" in shown and "(line " in shown
    refused = texts(cells[2])
    assert "did you mean sigmoid" in refused
    assert "ERROR" not in refused and "Traceback" not in refused
    assert not (ws / "sigmod.py").exists()
