"""Exercise files read as code: comments (the TODO markers among them), blank lines and
trailing spaces set aside, so that a right answer written without the reference's comments
compares equal to it."""
from __future__ import annotations

import io
import tokenize


def code_lines(text: str) -> list[str]:
    """The lines of a Python source that hold code, each without its comment or trailing spaces."""
    lines = io.StringIO(text).readlines()  # split as tokenize splits, so rows match
    try:
        comments = [token.start for token in tokenize.generate_tokens(io.StringIO(text).readline)
                    if token.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError):  # not valid Python yet: drop whole-line comments only
        return [line.rstrip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    for row, column in comments:
        lines[row - 1] = lines[row - 1][:column]
    return [line.rstrip() for line in lines if line.strip()]
