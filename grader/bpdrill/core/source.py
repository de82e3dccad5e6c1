"""Exercise files read as code: comments (the TODO markers among them), blank lines and
trailing spaces set aside, so that a right answer written without the reference's comments
compares equal to it."""
from __future__ import annotations

import difflib
import io
import tokenize


def code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each line of a Python source that holds code, without its
    comment or trailing spaces."""
    lines = io.StringIO(text).readlines()  # split as tokenize splits, so rows match
    try:
        comments = [token.start for token in tokenize.generate_tokens(io.StringIO(text).readline)
                    if token.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError):  # not valid Python yet: drop whole-line comments only
        comments = [(n, len(line) - len(line.lstrip())) for n, line in enumerate(lines, 1)
                    if line.lstrip().startswith("#")]
    for row, column in comments:
        lines[row - 1] = lines[row - 1][:column]
    return [(n, line.rstrip()) for n, line in enumerate(lines, 1) if line.strip()]


def code_diff(mine: str, reference: str, header: str) -> list[str]:
    """A unified diff of the code of two sources; each hunk's header gives the line numbers in
    the files themselves (header is a template with {mine} and {reference}). Empty when the
    code is the same."""
    a, b = code_lines(mine), code_lines(reference)
    matcher = difflib.SequenceMatcher(None, [text for _, text in a], [text for _, text in b], autojunk=False)
    out = []
    for group in matcher.get_grouped_opcodes(2):
        first = group[0]
        out.append("@@ " + header.format(mine=_line(a, first[1]), reference=_line(b, first[3])) + " @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + text for _, text in a[i1:i2]]
                continue
            out += ["-" + text for _, text in a[i1:i2]]
            out += ["+" + text for _, text in b[j1:j2]]
    return out


def _line(lines: list[tuple[int, str]], index: int) -> int:
    """The file's line number of code line index (the line after the last one at the end)."""
    if index < len(lines):
        return lines[index][0]
    return lines[-1][0] + 1 if lines else 1
