"""One registry of reasons (``linecode/reasons.py``): the code gives no reason that is not a member,
every member is given somewhere, each leaves the server with one status (its error class's, from
``linecode/service/errors.py``), README lists every member under that status and nothing else, and
the tests' own reasons are members too."""

from __future__ import annotations

import ast
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from linecode import errors
from linecode.logs import JsonLines, KeyValues
from linecode.reasons import Reason
from linecode.service.errors import status_code_of

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p for p in (ROOT / "linecode").rglob("*.py") if "v1" not in p.relative_to(ROOT).parts
) + sorted((ROOT / "ext").glob("*.pyx"))
PYTHON = [p for p in SOURCES if p.suffix == ".py" and p.name != "reasons.py"]
TESTS = sorted((ROOT / "tests").rglob("*.py"))
ANSWER = "Verify answer"
"""README's heading for the reasons that are ``Verify``'s answers, not errors."""

HANDED_ON = {
    "reason": "a helper's parameter (tx._missing, lifecycle.require_states), a worker's refusal "
    "raised again in the supervisor, or a lock or status change's free text",
    "rule": "aggregation._fail: the rule its callers name",
    "self.reason or Reason.TOO_LONG": "bounds.Bound: its own reason, else the default",
    "self.reason or Reason.BAD_CHARACTER": "bounds.Bound: its own reason, else the default",
    "request.reason": "SetLock, SetStatus: the caller's free text (not an error reason)",
    "answer.reason": "Verify: the answer's reason",
}
"""``reason=`` values that are not a member spelled out: each hands on one that is (or free text)."""


def error_classes() -> dict[str, type[errors.LinecodeError]]:
    def below(cls: type[errors.LinecodeError]) -> Iterator[type[errors.LinecodeError]]:
        yield cls
        for sub in cls.__subclasses__():
            yield from below(sub)

    return {cls.__name__: cls for cls in below(errors.LinecodeError)}


def test_no_reason_is_spelled_as_a_literal() -> None:
    """Every ``reason=`` names a member (or hands one on), and no string literal in linecode/ is a
    reason's text: the registry is the only place a reason is spelled."""
    handed_on = []
    for path in SOURCES:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in re.finditer(r"\breason=(?!Reason\.)([^,)\n]*)", line):
                if m.group(1).strip() not in HANDED_ON:
                    handed_on.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not handed_on, "spell reasons as Reason members:\n" + "\n".join(handed_on)
    members = {str(m) for m in Reason}
    literals = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for path in PYTHON
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in members
    ]
    assert not literals, "use the Reason members:\n" + "\n".join(literals)


def test_every_member_named_in_code_or_tests_exists() -> None:
    """Python resolves ``Reason.<NAME>`` only when the error is raised: a misspelt member would surface
    as an AttributeError on that path, so check them all here (mypy does too, for linecode/)."""
    text = "\n".join(p.read_text() for p in SOURCES + TESTS)
    named = set(re.findall(r"\bReason\.([A-Z][A-Z0-9_]*)\b", text))
    assert named - set(Reason.__members__) == set()


def test_every_member_is_given_somewhere() -> None:
    text = "\n".join(p.read_text() for p in SOURCES if p.name != "reasons.py")
    unused = [m.name for m in Reason if not re.search(rf"\bReason\.{m.name}\b", text)]
    assert not unused, f"no code gives these reasons: drop them from the registry: {unused}"


def test_the_registry_is_its_own_spelling_with_a_line_each() -> None:
    assert all(m.value == m.name and re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", m.name) for m in Reason)
    tree = ast.parse((ROOT / "linecode" / "reasons.py").read_text())
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Reason").body
    undocumented = [
        ast.unparse(stmt.targets[0])
        for stmt, after in zip(body, [*body[1:], None], strict=True)
        if isinstance(stmt, ast.Assign)
        and not (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant))
    ]
    assert not undocumented, f"say in a line what each means: {undocumented}"


def test_a_reason_prints_as_its_own_text() -> None:
    """JSON output (``--json``, JSON log lines) and key=value log lines show ``BAD_CHECK``, never
    ``Reason.BAD_CHECK``; only repr would, and nothing prints a reason with it."""
    assert json.dumps({"reason": Reason.BAD_CHECK}) == '{"reason": "BAD_CHECK"}'
    assert f"[{Reason.BAD_CHECK}]" == f"[{Reason.BAD_CHECK!s}]" == "[BAD_CHECK]"
    record = logging.LogRecord("linecode", logging.INFO, "", 0, "refused", None, None)
    record.reason = Reason.BAD_CHECK
    assert json.loads(JsonLines().format(record))["reason"] == "BAD_CHECK"
    assert KeyValues().format(record).endswith(" reason=BAD_CHECK")


def given_as() -> tuple[dict[str, set[str]], set[str]]:
    """Each reason the code gives, with the error classes it is raised with (read from the source:
    direct raises, class defaults, and helpers that hand a parameter or a field on as the reason),
    and the reasons that are ``Verify``'s answers."""
    classes = error_classes()
    raised: dict[str, set[str]] = defaultdict(set)
    answers: set[str] = set()
    for name, cls in classes.items():
        raised[str(cls.default_reason)].add(name)
    trees = {path: ast.parse(path.read_text()) for path in PYTHON}
    # Helpers: (function, parameter) or (class, field) whose value an error is raised with.
    helpers: dict[str, list[tuple[int | None, str, str]]] = defaultdict(list)
    for tree in trees.values():
        for owner in ast.walk(tree):
            if not isinstance(owner, ast.FunctionDef | ast.ClassDef):
                continue
            for raising, value in _error_calls(owner, classes):
                for node in ast.walk(value):
                    if isinstance(owner, ast.FunctionDef) and isinstance(node, ast.Name):
                        params = [a.arg for a in owner.args.posonlyargs + owner.args.args]
                        if node.id in params and node.id not in ("self", "cls"):
                            helpers[owner.name].append((params.index(node.id), node.id, raising))
                    if (
                        isinstance(owner, ast.ClassDef)
                        and isinstance(node, ast.Attribute)
                        and isinstance(node.value, ast.Name)
                        and node.value.id == "self"
                    ):
                        fields = [ast.unparse(s.target) for s in owner.body if isinstance(s, ast.AnnAssign)]
                        index = fields.index(node.attr) if node.attr in fields else None
                        helpers[owner.name].append((index, node.attr, raising))
    for tree in trees.values():
        assigned, loops = _module_values(tree), _loop_values(tree)
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            callee = _callee(call)
            if callee == "Verification" and len(call.args) > 1:
                answers |= _members_in(call.args[1], assigned, loops)
            if callee in classes and (reason := _reason_of(call)) is not None:
                for member in _members_in(reason, assigned, loops):
                    raised[member].add(callee)
            for index, keyword, raising in helpers.get(callee, []):
                args = [kw.value for kw in call.keywords if kw.arg == keyword]
                if index is not None and index < len(call.args):
                    args.append(call.args[index])
                for arg in args:
                    for member in _members_in(arg, assigned, loops):
                        raised[member].add(raising)
    return dict(raised), answers


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _error_calls(owner: ast.AST, classes: dict[str, type]) -> Iterator[tuple[str, ast.expr]]:
    """(class, reason expression) of each error ``owner`` raises with a ``reason=``."""
    for node in ast.walk(owner):
        if isinstance(node, ast.Call) and _callee(node) in classes:
            reason = _reason_of(node)
            if reason is not None:
                yield _callee(node), reason


def _reason_of(call: ast.Call) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == "reason"), None)


def _module_values(tree: ast.Module) -> dict[str, list[ast.expr]]:
    values: dict[str, list[ast.expr]] = defaultdict(list)
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    values[target.id].append(stmt.value)
    return values


def _loop_values(tree: ast.Module) -> dict[str, list[ast.expr]]:
    """What each loop variable of the module runs over (``for state, rule in TABLE.items()``)."""
    values: dict[str, list[ast.expr]] = defaultdict(list)
    for node in ast.walk(tree):
        if isinstance(node, ast.For):
            for name in ast.walk(node.target):
                if isinstance(name, ast.Name):
                    values[name.id].append(node.iter)
    return values


def _members_in(
    expr: ast.expr, assigned: dict[str, list[ast.expr]], loops: dict[str, list[ast.expr]], depth: int = 0
) -> set[str]:
    """The members ``expr`` can be: those it spells, and those of the module constants and loop
    variables it names."""
    found = {
        node.attr
        for node in ast.walk(expr)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Reason"
    }
    if depth < 2:
        for name in (n.id for n in ast.walk(expr) if isinstance(n, ast.Name)):
            for value in assigned.get(name, []) + loops.get(name, []):
                found |= _members_in(value, assigned, loops, depth + 1)
    return found


def readme_reasons() -> dict[str, set[str]]:
    """README's list of reasons: reason -> the statuses it is listed under."""
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("Reasons by status") :].split("\n\n")[1]
    listed: dict[str, set[str]] = defaultdict(set)
    status = ""
    for line in block.splitlines():
        if line.startswith("- "):  # "- STATUS[ (words)]: `A`, `B`,", then indented lines of names
            head, line = line[2:].split(":", 1)
            status = ANSWER if ANSWER in head else head.split()[0]
        for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", line):
            listed[name].add(status)
    return dict(listed)


def test_each_reason_has_one_status_and_readme_lists_it_there() -> None:
    raised, answers = given_as()
    classes = error_classes()
    status = {
        reason: {status_code_of(classes[name]).name for name in names} for reason, names in raised.items()
    }
    for reason in answers:
        status.setdefault(reason, set()).add(ANSWER)
    twice = {reason: names for reason, names in status.items() if len(names) > 1}
    assert not twice, f"a reason leaves the server with one status: {twice}"
    assert set(status) == set(Reason.__members__), "every member is given, and nothing else"
    listed = readme_reasons()
    assert set(listed) - set(status) == set(), "README lists reasons that are no members"
    assert set(status) - set(listed) == set(), "README misses members"
    wrong = {r: (listed[r], status[r]) for r in status if listed[r] != status[r]}
    assert not wrong, f"README lists these under another status (README, code): {wrong}"


def test_the_tests_check_only_reasons_that_exist() -> None:
    """A test comparing a reason with a literal that is no member would test a reason nobody gives."""
    members = set(Reason.__members__)
    phantoms = []
    for path in TESTS:
        for node in ast.walk(ast.parse(path.read_text())):
            texts: list[ast.expr] = []
            if isinstance(node, ast.Compare) and any(map(_names_a_reason, [node.left, *node.comparators])):
                texts = [node.left, *node.comparators]
            elif isinstance(node, ast.keyword) and node.arg == "reason":
                texts = [node.value]
            phantoms += [
                f"{path.relative_to(ROOT)}:{const.lineno}: {const.value!r}"
                for text in texts
                for const in ast.walk(text)
                if isinstance(const, ast.Constant)
                and isinstance(const.value, str)
                and re.fullmatch(r"[A-Z][A-Z0-9_]+", const.value)
                and const.value not in members
            ]
    assert not phantoms, "\n".join(phantoms)


def _names_a_reason(expr: ast.expr) -> bool:
    return (isinstance(expr, ast.Attribute) and expr.attr == "reason") or (
        isinstance(expr, ast.Name) and expr.id == "reason"
    )
