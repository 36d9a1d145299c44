"""The layers stay put: `apps/core` imports no other app, and the ML engine imports no Django.

The imports are read from the source with `ast`, not by importing the modules, so an import
made lazily inside a function counts as much as one at the top of a file.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "apps" / "core"
ENGINE = ROOT / "apps" / "ml" / "engine"


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    package = ".".join(path.relative_to(root).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # `from apps import cameras` names the app in the alias, not in the module.
            names = [f"{base}.{alias.name}" for alias in node.names] if base == "apps" else [base]
            found += [(node.lineno, name) for name in names]
    return found


def imports_matching(folder: Path, wrong) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted(folder.rglob("*.py"))
        for line, name in imported_modules(path)
        if wrong(name)
    ]


def another_app(name: str) -> bool:
    return name.startswith("apps.") and not (name == "apps.core" or name.startswith("apps.core."))


def django(name: str) -> bool:
    return name == "django" or name.startswith("django.")


def test_core_imports_no_other_app():
    assert list(CORE.rglob("*.py")), "apps/core has no Python files to check"

    offending = imports_matching(CORE, another_app)

    assert not offending, "apps/core must not import other apps:\n" + "\n".join(offending)


def test_the_ml_engine_imports_no_django():
    assert list(ENGINE.rglob("*.py")), "apps/ml/engine has no Python files to check"

    offending = imports_matching(ENGINE, django)

    assert not offending, "apps/ml/engine must not import Django:\n" + "\n".join(offending)


def test_the_scan_sees_lazy_relative_and_from_apps_imports(tmp_path):
    """The checks above would pass vacuously if the scanner missed a form of import."""
    module = tmp_path / "apps" / "core" / "sub" / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from apps import cameras\n"
        "from ...ml import runtime\n"
        "def later():\n"
        "    import apps.qa.kb\n"
        "    from django.db import models\n"
        "from ..roles import Role\n"
    )

    names = sorted(imported_modules(module, root=tmp_path))

    assert names == [
        (1, "apps.cameras"),
        (2, "apps.ml"),
        (4, "apps.qa.kb"),
        (5, "django.db"),
        (6, "apps.core.roles"),
    ]
    assert [name for _, name in names if another_app(name)] == [
        "apps.cameras",
        "apps.ml",
        "apps.qa.kb",
    ]
    assert [name for _, name in names if django(name)] == ["django.db"]
