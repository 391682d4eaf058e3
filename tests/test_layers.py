"""The package's shape, read from its source: the layers of docs/internals.md hold (the batch
layer never imports the client it drives, the emulator imports nothing of the client), there is
no import cycle, and the application's batch methods keep run_batch's signature."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import asyncrun
from asyncrun import AsyncApplication, run_batch, run_batch_all

PACKAGE = Path(asyncrun.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative.with_suffix(".py")).is_file() or (
        PACKAGE.parent / relative / "__init__.py"
    ).is_file()


def _imports(path: Path) -> Iterator[str]:
    """Every asyncrun module `path` imports, anywhere in the file (lazy imports included)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("asyncrun"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if not source.startswith("asyncrun"):
                continue
            # `from asyncrun.batch import runner` imports the module asyncrun.batch.runner
            names = [f"{source}.{alias.name}" for alias in node.names]
            submodules = [name for name in names if _is_module(name)]
            yield from submodules or [source]


def _graph() -> dict[str, set[str]]:
    return {
        _module_name(path): set(_imports(path)) - {_module_name(path)}
        for path in sorted(PACKAGE.rglob("*.py"))
    }


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("asyncrun.batch", ("asyncrun.application", "asyncrun.client", "asyncrun.transport")),
        ("asyncrun.batch", ("asyncrun.cli",)),
        ("asyncrun.emulator", ("asyncrun.",)),
        ("asyncrun.apps", ("asyncrun.application", "asyncrun.client", "asyncrun.batch")),
        ("asyncrun.apps", ("asyncrun.cli",)),
        ("asyncrun.experiments", ("asyncrun.application", "asyncrun.client", "asyncrun.batch")),
        ("asyncrun.experiments", ("asyncrun.cli",)),
        ("asyncrun.transport", ("asyncrun.application", "asyncrun.batch", "asyncrun.polling")),
        # The verdict reads a sweep's folder: no network, no command line. It shares the
        # acceptance test's models and metric check with the experiments client through the
        # neutral asyncrun._metrics, never through the client's experiment calls.
        (
            "asyncrun.acceptance",
            ("asyncrun.application", "asyncrun.client", "asyncrun.transport", "asyncrun.cli"),
        ),
        ("asyncrun.acceptance", ("asyncrun.experiments",)),
        # Both the client's experiments and the verdict import it: it imports neither.
        (
            "asyncrun._metrics",
            ("asyncrun.experiments", "asyncrun.acceptance", "asyncrun.client", "asyncrun.cli"),
        ),
        ("asyncrun._metrics", ("asyncrun.transport", "asyncrun.application", "asyncrun.batch")),
    ],
)
def test_a_layer_never_imports_what_sits_above_it(layer: str, forbidden: tuple[str, ...]) -> None:
    offending = {
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if module == layer or module.startswith(layer + ".")
        for target in targets
        if target.startswith(forbidden) and not target.startswith(layer)
    }
    assert not offending


def test_there_is_no_import_cycle() -> None:
    graph = _graph()
    # The package's own __init__ re-exports the public API; modules inside never import it.
    assert not {module for module, targets in graph.items() if "asyncrun" in targets}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


@pytest.mark.parametrize(
    ("method", "function"),
    [(AsyncApplication.run_batch, run_batch), (AsyncApplication.run_batch_all, run_batch_all)],
)
def test_the_application_methods_keep_the_batch_signature(
    method: Callable[..., Any], function: Callable[..., Any]
) -> None:
    """app.run_batch(...) takes exactly run_batch(app, ...)'s arguments, with the same defaults
    and annotations (no **kwargs hiding them from users and type checkers)."""
    of_method = list(inspect.signature(method).parameters.values())[1:]
    of_function = list(inspect.signature(function).parameters.values())[1:]
    assert of_method == of_function
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in of_function)
