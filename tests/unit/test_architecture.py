"""docs/architecture.md names every module of the package, so the map stays true."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "shared" / "job_scheduler"


def test_every_module_has_a_line_in_the_architecture_doc():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    modules = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py"
    ]
    assert [module for module in modules if f"`{module}`" not in doc] == []


def test_subpackage_inits_are_empty():
    inits = [path for path in PACKAGE.rglob("__init__.py") if path.parent != PACKAGE]
    assert [str(path.relative_to(PACKAGE)) for path in inits if path.read_text().strip()] == []


def test_at_most_a_dozen_modules_stay_at_the_top():
    assert len([path for path in PACKAGE.glob("*.py") if path.name != "__init__.py"]) <= 12
