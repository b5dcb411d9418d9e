"""Which of the project's modules must be imported again when one module is mutated.

The mutation runner imports the whole project once and forks a child per mutant. A child
only needs to import again the mutated module and the modules that import it, directly or
through others (they hold references to its functions); every other module is reused as the
parent imported it, which spares each run the second or so of building the API's routes.
Imports are read from the source (every `import` statement, at any depth, counts), so the
set errs on the side of importing again.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path


def module_name(path: str) -> str:
    """`engine/policies/curve.py` -> `engine.policies.curve`; a package's `__init__.py`
    is the package."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, name: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    base = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def dependents(root: Path, files: Iterable[str], packages: Iterable[str]) -> set[str]:
    """The modules under `root` (in `packages`, plus top-level modules) that import one of
    `files`, directly or not, and those files' own modules."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        relative = str(path.relative_to(root))
        top = relative.split("/")[0]
        if "/" in relative and top not in packages:
            continue
        name = module_name(relative)
        graph[name] = _imports(path, name, path.name == "__init__.py")
    found = {module_name(f) for f in files}
    while True:
        grown = found | {
            name
            for name, imported in graph.items()
            if any(
                other == module or other.startswith(module + ".")
                for other in imported
                for module in found
            )
        }
        if grown == found:
            return found
        found = grown


def forget(names: set[str], also: Iterable[str] = ()) -> None:
    """Drop `names` and every module whose name starts with one of `also` from `sys.modules`,
    so the next import runs their code again. A kept package also loses its attribute for a
    dropped submodule: `from routers import states` would otherwise hand back the old one."""
    prefixes = tuple(also)
    dropped = [
        name
        for name in list(sys.modules)
        if name in names or (prefixes and name.startswith(prefixes))
    ]
    for name in dropped:
        del sys.modules[name]
    for name in dropped:
        parent, _, child = name.rpartition(".")
        if parent in sys.modules and hasattr(sys.modules[parent], child):
            delattr(sys.modules[parent], child)
