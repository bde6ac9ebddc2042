"""The layers of ``docs/architecture.md`` hold in the code: every import runs down its table (or
stays in its layer), only the service and the simulator import the generated stubs, and the table
names every top-level part of the package exactly once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "linecode"
STUB_USERS = {"service", "sim"}


def layers() -> list[set[str]]:
    """The package column of the Layers table, top layer first: names without ``/`` or ``.py``."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ") and "`" in line]
    return [{re.sub(r"/$|\.py$", "", name) for name in re.findall(r"`([^`]+)`", row[2])} for row in rows]


def parts() -> set[str]:
    """The package's own top-level modules and packages (not generated, private or ``__init__``)."""
    found = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    return {n for n in found if not n.startswith("_") or n == "__main__"} - {"v1", "__pycache__"}


def imports() -> list[tuple[str, str, str]]:
    """(importing part, imported part, file) for every import of linecode within linecode."""
    out = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "v1":
            continue
        here = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "linecode":
                whole = node.module == "linecode"  # from linecode import bounds
                names = [f"linecode.{a.name}" for a in node.names] if whole else [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.split(".")[0] == "linecode"]
            for name in names:
                if name.count("."):
                    out.append((here, name.split(".")[1], str(rel)))
    return out


def test_the_table_names_every_part_once() -> None:
    named = [name for layer in layers() for name in layer]
    assert len(named) == len(set(named)), f"named twice: {sorted(n for n in named if named.count(n) > 1)}"
    assert set(named) == parts(), f"not in the table: {parts() - set(named)}; gone: {set(named) - parts()}"


def test_imports_run_down_the_layers() -> None:
    rank = {name: i for i, layer in enumerate(layers()) for name in layer}
    up = [
        f"{file}: {here} imports {there}"
        for here, there, file in imports()
        if here in rank and there in rank and rank[there] < rank[here]
    ]
    assert not up, "imports that run up a layer:\n" + "\n".join(up)


def test_only_the_service_and_the_simulator_import_the_stubs() -> None:
    users = {f"{file}" for here, there, file in imports() if there == "v1" and here not in STUB_USERS}
    assert not users, f"generated stubs imported outside {sorted(STUB_USERS)}: {sorted(users)}"


def test_the_checks_see_imports() -> None:
    """The reader finds the imports it is to judge (so the tests above cannot pass on nothing)."""
    found = imports()
    assert ("service", "store", "service/line.py") in found
    assert ("store", "errors", "store/store.py") in found
    assert any(there == "v1" for _, there, _ in found)
