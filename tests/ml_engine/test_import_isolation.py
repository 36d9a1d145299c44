"""The engine stays importable without Django, and the package itself without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def _top_level(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_importing_the_engine_package_and_its_plain_names_imports_neither_torch_nor_django():
    modules = _modules_after(
        "import apps.ml.engine\n"
        "from apps.ml.engine import Detection, ImageDecodeError, ModelLoadError, directory_checksum"
    )

    assert "apps.ml.engine" in modules
    assert _top_level(modules).isdisjoint({"torch", "transformers", "django"})


def test_importing_the_vision_module_does_not_import_django():
    modules = _modules_after("import apps.ml.engine.vision")

    assert "torch" in modules
    assert "django" not in _top_level(modules)


def test_loading_the_face_detector_imports_neither_django_nor_transformers(face_model_dir):
    modules = _modules_after(
        "from apps.ml.engine.vision import VisionModel\n"
        f"VisionModel.load({str(face_model_dir)!r}, device='cpu')"
    )

    assert "apps.ml.engine.faces" in modules
    assert _top_level(modules).isdisjoint({"django", "transformers"})


def test_importing_every_engine_module_does_not_import_django():
    engine = REPO_ROOT / "apps" / "ml" / "engine"
    names = sorted(p.stem for p in engine.glob("*.py") if p.stem != "__init__")

    modules = _modules_after("\n".join(f"import apps.ml.engine.{name}" for name in names))

    assert {f"apps.ml.engine.{name}" for name in names} <= modules
    assert "django" not in _top_level(modules)
