"""Imports point one way (scripts/check_imports.py): no cycle between lvcd modules, function-local imports
included, and nothing below the API imports lvcd.api, lvcd.shots or lvcd.cli."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_lvcd_imports_have_no_cycle_and_point_down():
    assert _checker().problems(ROOT) == []


def test_the_checker_sees_local_import_cycles_and_upward_imports(tmp_path):
    pkg = tmp_path / "lvcd"
    (pkg / "video").mkdir(parents=True)
    (pkg / "shots").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "api.py").write_text("from .video import writer\n")
    (pkg / "video" / "__init__.py").write_text("")
    (pkg / "video" / "writer.py").write_text("def f():\n    from ..shots import render\n")
    (pkg / "shots" / "__init__.py").write_text("")
    (pkg / "shots" / "render.py").write_text("def g():\n    import lvcd.api\n")
    found = _checker().problems(tmp_path)
    assert any(p.startswith("import cycle: lvcd.api, lvcd.shots.render, lvcd.video.writer") for p in found)
    assert any(p.startswith("lvcd.video.writer imports lvcd.shots.render (line 2)") for p in found)
