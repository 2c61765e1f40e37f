"""The package reads like the book: one subpackage per pipeline stage, and imports only ever point to an earlier
stage (or to the stage-free helpers at the top), never to a later one."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "audiotag"

#: The stages in the book's chapter order; ``fileio`` belongs to none (0), the CLI sits on top of all of them.
STAGES = {"fileio": 0, "data": 1, "features": 2, "models": 3, "training": 4, "evaluation": 5, "inference": 6,
          "book": 7, "cli": 8}


def _stage_of_module(dotted: str) -> tuple[str, int] | None:
    parts = dotted.split(".")
    if parts[0] != "audiotag" or len(parts) < 2:
        return None
    return parts[1], STAGES[parts[1]]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)[: -node.level]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            if mod == "audiotag":
                out.extend(f"audiotag.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return out


def test_every_module_sits_in_a_stage():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert top == ["cli", "fileio"]
    for sub in (p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert sub.name in STAGES, f"{sub.name}/ is not a stage"
        doc = ast.get_docstring(ast.parse((sub / "__init__.py").read_text()))
        assert doc and ("chapter" in doc.lower()), f"{sub.name}/__init__.py must say what it holds and its chapter"


def test_imports_point_to_earlier_stages_only():
    bad = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel == Path("__init__.py"):
            continue                        # the package's front door re-exports a few names from every stage
        own_name = rel.parts[0].removesuffix(".py")
        own = STAGES[own_name]
        for mod in _imports(path):
            target = _stage_of_module(mod)
            if target and target[1] > own:
                bad.append(f"{rel} ({own_name}) imports {mod} ({target[0]})")
    assert not bad, "imports against the chapter order:\n" + "\n".join(bad)


def test_no_near_synonym_modules_side_by_side():
    for folder in [PACKAGE, *(p for p in PACKAGE.iterdir() if p.is_dir())]:
        stems = [p.stem for p in folder.glob("*.py")]
        for prefix in ("predict", "evaluat", "ensemble"):
            same = [s for s in stems if s.startswith(prefix)]
            assert len(same) <= 1, f"{folder.name}/: {same} differ only in their endings"
