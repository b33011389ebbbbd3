"""The import graph of `rlrec` has no cycles and no arrow running back up.

The graph is read from the source with `ast` (nothing is imported): every `import` and
`from ... import`, at module level or inside a function (a lazy import still ties two modules
together), except those under `if TYPE_CHECKING:`. A package's `__init__` counts as the
package. Two checks:

- no cycle between modules (`cycles`), so each module can be read after the ones it imports;
- no cycle either once each sub-package is one node (`coarse_graph`): `rlrec.interactive.llm.agent`
  needing `rlrec.interactive.text.grounding` while grounding needs `rlrec.interactive.llm.memory`
  ties grounding and the `llm` package together even without a module-level cycle;
- the library packages (`LIBRARY`) never import a command or a benchmark (`TOOLS`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "rlrec"
# Tools that sit on top of the library: nothing in the library imports them.
TOOLS = ("rlrec.cli", "rlrec.bench", "rlrec.quickstart")
LIBRARY = ("rlrec.data", "rlrec.interactive", "rlrec.crossdomain")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """Every `rlrec` module that `tree` imports (`from a import b` names `a.b` when that is a
    module, else `a`)."""
    found: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m == ROOT or m.startswith(ROOT + ".")}


def import_graph() -> dict[str, set[str]]:
    """module -> the `rlrec` modules it imports (only names that are modules of the tree)."""
    paths = {module_name(p): p for p in sorted((SRC / ROOT).rglob("*.py"))}
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        wanted = _imports(tree, name, path.name == "__init__.py", set(paths))
        graph[name] = {m for m in wanted if m in paths and m != name}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The components with more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def _unit(module: str) -> str:
    """The node of the coarse graph: a module of a sub-package inside a package of `rlrec`
    stands for its sub-package (`rlrec.interactive.llm.agent` -> `rlrec.interactive.llm`,
    `rlrec.data.synthetic.amazon` -> `rlrec.data.synthetic`); any other module is itself."""
    parts = module.split(".")
    return ".".join(parts[:3]) if len(parts) > 3 else module


def coarse_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same arrows with each sub-package collapsed into one node (`_unit`)."""
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        src = _unit(module)
        out.setdefault(src, set()).update(_unit(t) for t in targets if _unit(t) != src)
    return out


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "rlrec.interactive.learners.ilrec" in graph
    assert "rlrec.interactive.learners.training" in graph["rlrec.interactive.learners.ilrec"]


def test_a_cycle_is_found():
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(toy) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = strongly_connected(import_graph())
    assert not cycles, f"import cycles between modules: {cycles}"


def test_no_cycles_through_a_sub_package():
    cycles = strongly_connected(coarse_graph(import_graph()))
    assert not cycles, f"import cycles through a sub-package: {cycles}"


@pytest.mark.parametrize("library", LIBRARY)
def test_the_library_never_imports_a_tool(library):
    graph = import_graph()
    upward = sorted(
        (module, target)
        for module, targets in graph.items()
        if module == library or module.startswith(library + ".")
        for target in targets
        if any(target == t or target.startswith(t + ".") for t in TOOLS)
    )
    assert not upward, f"arrows from the library up to a command or benchmark: {upward}"


def test_each_interactive_sub_package_is_one_node():
    """The ideas of `rlrec.interactive` are sub-packages, so the cycle check above sees them as
    units: the learners read experience and the world, never the other way round."""
    coarse = coarse_graph(import_graph())
    for sub in ("world", "text", "demos", "experience", "learners", "llm"):
        assert f"rlrec.interactive.{sub}" in coarse, sub
    assert {"rlrec.interactive.experience", "rlrec.interactive.world"} <= coarse[
        "rlrec.interactive.learners"
    ]
    assert "rlrec.interactive.learners" not in coarse["rlrec.interactive.experience"]
