"""The registry's app stays below the pages built on it: apps/ml imports neither the
labelling queue (apps/labelling) nor the reports (apps/reports, the measured loop), and the
ML admin views live in one `views/` package."""

from ..test_layers import ROOT, imports_matching

ML = ROOT / "apps" / "ml"


def above_ml(name: str) -> bool:
    return name.split(".")[:2] in (["apps", "labelling"], ["apps", "reports"])


def test_the_ml_app_imports_neither_the_labelling_queue_nor_the_reports():
    offending = list(imports_matching(ML, above_ml))
    assert not offending, "apps/ml must not import the apps above it:\n" + "\n".join(offending)


# Known older arrows from the registry up into cameras (a dataset sample made from a frame,
# a frame drawn on the dataset page); no new one may join them. The promotion guard asks
# the cameras' rules through apps.ml.signals.class_needs, which apps/cameras registers.
KNOWN_CAMERA_IMPORTS = {"apps/ml/services.py", "apps/ml/views/datasets.py"}


def test_the_ml_app_imports_cameras_only_where_it_did_before():
    into_cameras = list(
        imports_matching(ML, lambda name: name.split(".")[:2] == ["apps", "cameras"])
    )
    new = [line for line in into_cameras if line.split(":")[0] not in KNOWN_CAMERA_IMPORTS]
    assert not new, "apps/ml must not import apps/cameras:\n" + "\n".join(new)


def test_the_ml_pages_are_one_views_package():
    loose = sorted(path.name for path in ML.glob("*views.py"))
    assert loose == [], f"page views belong in apps/ml/views/: {loose}"
    assert {path.stem for path in (ML / "views").glob("*.py")} >= {"datasets", "registry", "runs"}
    assert not (ML / "loop.py").exists()
