"""Imports point one way: the package's folders are layers, and a module imports only from its
own layer or the layers below it, with no circles and no private (_underscore) names of
another module. Read from the source (every import, also those inside functions)."""
from __future__ import annotations

import ast
from pathlib import Path

import bpdrill

PACKAGE = Path(bpdrill.__file__).resolve().parent

# Top to bottom. A module may import from its own layer or any layer below.
LAYERS = [
    {"cli", "web", "notebook", "api", "devcheck", "__main__", "__init__"},
    {"explore"},
    {"practice"},
    {"grading"},
    {"checks"},
    {"kinds"},
    {"core"},
    {"i18n", "catalog", "columns", "paths"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return "bpdrill." + ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, known: set[str]) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for each bpdrill import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("bpdrill")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("bpdrill"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                found.append((full, []) if full in known else (node.module, [a.name]))
    return found


def _layer(module: str) -> int:
    first = module.split(".")[1] if "." in module else "__init__"
    for number, layer in enumerate(LAYERS):
        if first in layer:
            return number
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m, _ in _imports(path, known) if m in known and m != name}
    return graph


def test_every_import_points_down_or_sideways():
    up = [f"{a} -> {b}" for a, deps in _graph().items() for b in deps if _layer(b) < _layer(a)]
    assert not up, "imports that point up:\n" + "\n".join(sorted(up))


def test_the_import_graph_has_no_circles():
    graph = _graph()
    circles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "circular imports:\n" + "\n".join(circles)


def test_no_module_imports_another_modules_private_names():
    modules = _modules()
    known = set(modules)
    private = [f"{name} takes {m}.{n}" for name, path in modules.items()
               for m, names in _imports(path, known) for n in names
               if n.startswith("_") and not n.startswith("__") and m != name]
    assert not private, "\n".join(private)


def test_the_package_has_no_undefined_names_or_unused_imports():
    """pyflakes over the package: a name used but never defined hides in a diagnosis (whose
    exceptions are swallowed, by design) until a learner's mistake goes unnamed."""
    import subprocess
    import sys
    found = subprocess.run([sys.executable, "-m", "pyflakes", str(PACKAGE)], capture_output=True, text=True)
    assert found.returncode == 0, found.stdout + found.stderr
