"""Imports point one way (scripts/check_imports.py): no cycle between lvcd modules, function-local imports
included, and nothing below the API imports lvcd.api, lvcd.shots or lvcd.cli. Files stay readable
(scripts/check_sizes.py): under 600 lines each, api.py and shots/ under 400."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _checker(name="check_imports"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
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


def test_lvcd_files_stay_under_their_line_limits():
    found = _checker("check_sizes").problems(ROOT)
    assert not found, "files over their line limit:\n" + "\n".join(found)  # every offender, not only the first


def test_the_size_checker_reports_every_offender(tmp_path):
    sizes = _checker("check_sizes")
    (tmp_path / "lvcd" / "shots").mkdir(parents=True)
    (tmp_path / "lvcd" / "sub").mkdir()
    write = lambda rel, n: (tmp_path / rel).write_text("x = 1\n" * n)  # noqa: E731
    write("lvcd/api.py", 400)
    write("lvcd/shots/plan.py", 399)
    write("lvcd/shots/render.py", 450)
    write("lvcd/sub/big.py", 600)
    write("lvcd/sub/ok.py", 599)
    write("lvcd/sub/shots.py", 450)  # not under lvcd/shots/: the 600 limit
    assert sizes.problems(tmp_path) == [
        "lvcd/shots/render.py: 450 lines (limit: fewer than 400); split it along a concept it holds",
        "lvcd/api.py: 400 lines (limit: fewer than 400); split it along a concept it holds",
        "lvcd/sub/big.py: 600 lines (limit: fewer than 600); split it along a concept it holds",
    ]
