"""The design card's dependency rule, checked on the source: dependencies point inward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "lane": {"api", "simulators", "cli", "devices", "vision", "bench"},
    "vision": {"api", "simulators", "cli", "lane", "devices", "bench"},
    "devices": {"api", "simulators", "cli", "bench"},
    "api": {"simulators", "cli", "bench"},
}
ALLOWED_FILES = {ROOT / "lane" / "__main__.py"}  # `python -m lane` hands over to the composition root


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_outer_layers(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if path in ALLOWED_FILES or "migrations" in path.parts:
            continue
        bad = imported_packages(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)
