"""`lvcd batch --executor ray` on a local Ray instance: parity with the local executor, worker and node deaths,
failing and hung shots, a killed driver.

One local Ray instance (address="local", 2 CPUs, no dashboard, node IP = loopback, its own temporary folder) serves
the module; the node test builds its own `ray.cluster_utils.Cluster`. Each test renders into its own tmp_path. The
module's last fixture checks that every Ray process it started has exited.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import pytest
import yaml
from shots_synth import colour_reference, make_clip, write_sequence

SAMPLE = Path(__file__).resolve().parents[2] / "lvcd" / "data" / "sample"
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",  # no telemetry, no token file in ~/.ray
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
}  # node IP = loopback (Ray otherwise picks the LAN address)
_saved_env = {k: os.environ.get(k) for k in (*RAY_ENV, "RAY_TMPDIR")}
os.environ.update(RAY_ENV)  # before `import ray`: Ray reads the node-address switch at import
ray = pytest.importorskip("ray")

from lvcd.cli import main  # noqa: E402
from lvcd.distributed.ray_executor import ShotWorker  # noqa: E402
from lvcd.shots.render import render_shots  # noqa: E402
from lvcd.status import read_status  # noqa: E402

WORKER = {"workers": 2, "cpus_per_worker": 1}
POLL = 0.02  # seconds between looks at the work folder while waiting for an event (no fixed sleeps)


# ------------------------------------------------------------------------------------------------ Ray fixtures
# a removed node is declared dead after ~1 s instead of Ray's default ~30 s (3 missed checks, 10 s apart)
FAST_HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 300,
    "health_check_timeout_ms": 300,
    "health_check_failure_threshold": 3,
}
_started: list = []  # psutil.Process of everything our Ray instances spawned
_cluster: dict = {}  # "cluster": the node test's ray.cluster_utils.Cluster while it runs


def _remember_children() -> None:
    import psutil

    known = {p.pid for p in _started}
    _started.extend(p for p in psutil.Process().children(recursive=True) if p.pid not in known)


def _shutdown() -> None:
    if ray.is_initialized():
        _remember_children()
        ray.shutdown()
    if _cluster.get("cluster") is not None:
        _cluster.pop("cluster").shutdown()


@pytest.fixture(scope="module", autouse=True)
def no_ray_left_behind():
    os.environ.update(RAY_ENV)
    tmp = tempfile.mkdtemp(prefix="lvray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    # Ray's default folder (the Cluster's address file `ray_current_cluster`, ...) inside it, not a shared /tmp/ray
    os.environ["RAY_TMPDIR"] = tmp
    os.makedirs(os.path.join(tmp, "ray"))
    yield tmp
    _shutdown()
    import psutil

    _, alive = psutil.wait_procs([p for p in _started if p.is_running()], timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)
    for k, v in _saved_env.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    assert not alive, f"Ray processes left behind: {[(p.pid, p.name()) for p in alive]}"


@pytest.fixture
def ray_local(no_ray_left_behind):
    """The module's local Ray instance (started on first use; the node test may have replaced it)."""
    if _cluster.get("cluster") is not None:
        _shutdown()
    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            _temp_dir=os.path.join(no_ray_left_behind, "local"),
        )
        _remember_children()
    return ray


def _listening_addresses() -> set[str]:
    import psutil

    found = set()
    for p in psutil.Process().children(recursive=True):
        try:
            found |= {c.laddr.ip for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        except psutil.Error:
            continue
    return found


# ------------------------------------------------------------------------------------------------ data
def frames_of(work: Path) -> dict[str, bytes]:
    return {str(p.relative_to(work / "shots")): p.read_bytes() for p in sorted((work / "shots").glob("*/*.png"))}


def copy_sample(root: Path) -> Path:
    shutil.copytree(SAMPLE, root / "sample")
    return root / "sample" / "shots.yaml"


@pytest.fixture(scope="module")
def sample_reference(tmp_path_factory):
    """The bundled sample rendered by the local executor: (work folder, final video)."""
    root = tmp_path_factory.mktemp("sample-local")
    res = render_shots(copy_sample(root), output=root / "out.mp4", progress=False)
    return res.work, res.output


DIFFUSION_SPEC = [dict(kind="shapes", n=24, seed=1), dict(kind="twos", n=8, seed=4), dict(kind="pan", n=12, seed=2)]


class DiffusionEpisode:
    """44 lineart frames and a 4-shot manifest for the tiny random diffusion pipeline; `long` has two windows."""

    def __init__(self, root: Path, model: Path):
        frames, _ = make_clip(DIFFUSION_SPEC, size=(128, 72))
        write_sequence(frames, root / "line")
        (root / "refs").mkdir()
        shots = [("long", 0, 24), ("b", 24, 32), ("c", 32, 38), ("d", 38, 44)]
        for _, a, _ in shots:
            ref = cv2.cvtColor(colour_reference(frames[a], a), cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(root / "refs" / f"{a}.png"), ref)
        data = {
            "input": "line",
            "output": "out",
            "defaults": {"backend": "diffusion", "model": str(model), "fmt": "png", "steps": 1, "size": [64, 64]},
            "shots": [{"name": n, "start": a, "end": b, "reference": f"refs/{a}.png"} for n, a, b in shots],
        }
        self.manifest = root / "shots.yaml"
        self.manifest.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module")
def diffusion(tmp_path_factory, tiny_pipeline_dir):
    """The 4-shot episode and its local render: (episode, local work folder, local output folder)."""
    root = tmp_path_factory.mktemp("diffusion")
    ep = DiffusionEpisode(root, tiny_pipeline_dir)
    res = render_shots(ep.manifest, work=root / "local.work", output=root / "local-out", progress=False, drift=False)
    return ep, res.work, res.output


def wait_for(predicate, what: str, timeout: float = 120.0):
    t = time.monotonic()
    while not (found := predicate()):
        if time.monotonic() - t > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL)
    return found


def in_thread(fn, *args, **kwargs):
    box: dict = {}

    def run():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised by the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def worker_pid(work: Path, shot: str) -> int:
    """The pid of the process rendering `shot`, from its status file (worker = "w0@host:pid")."""
    return int(read_status(work, shot)["worker"].rsplit(":", 1)[1])


# ------------------------------------------------------------------------------------------------ tests
def test_import_lvcd_does_not_import_ray():
    code = "import sys, lvcd, lvcd.distributed, lvcd.shots.render; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sample_parity_and_loopback(ray_local, tmp_path, sample_reference):
    assert _listening_addresses() <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, _listening_addresses()
    ref_work, ref_out = sample_reference
    res = render_shots(
        copy_sample(tmp_path), output=tmp_path / "out.mp4", progress=False, executor="ray", executor_options=WORKER
    )
    assert [s.status for s in res.shots] == ["rendered", "rendered"]
    assert {s.worker.split("@")[0] for s in res.shots} == {"w0", "w1"}  # both workers rendered a shot
    assert res.output.read_bytes() == ref_out.read_bytes()
    assert frames_of(res.work) == frames_of(ref_work)


def test_diffusion_parity(ray_local, tmp_path, diffusion):
    ep, ref_work, ref_out = diffusion
    res = render_shots(
        ep.manifest,
        work=tmp_path / "w",
        output=tmp_path / "out",
        progress=False,
        drift=False,
        executor="ray",
        executor_options=WORKER,
    )
    assert sorted(s.status for s in res.shots) == ["rendered"] * 4
    assert frames_of(res.work) == frames_of(ref_work)
    assert {p.name: p.read_bytes() for p in sorted(res.output.iterdir())} == {
        p.name: p.read_bytes() for p in sorted(ref_out.iterdir())
    }


def test_killed_worker_restarts_and_resumes(ray_local, tmp_path, diffusion):
    ep, ref_work, _ = diffusion
    work = tmp_path / "w"
    thread, box = in_thread(
        render_shots,
        ep.manifest,
        work=work,
        only=["long"],
        progress=False,
        drift=False,
        executor="ray",
        executor_options=WORKER,
    )
    wait_for(
        lambda: (work / "shots" / "long.state" / "ckpt" / "forward" / "seg_00000.safetensors").is_file(),
        "the first window checkpoint of shot long",
    )
    os.kill(worker_pid(work, "long"), signal.SIGKILL)
    thread.join(300)
    assert "error" not in box, box.get("error")
    long = next(s for s in box["result"].shots if s.name == "long")
    assert long.actor_restarted and long.resumed_windows >= 1 and long.status == "resumed"
    ref = frames_of(ref_work)
    assert frames_of(work) == {k: v for k, v in ref.items() if k.startswith("long/")}


def test_corrupt_shot_fails_on_two_workers_while_the_others_finish(ray_local, episode, capsys):
    manifest = episode.manifest()
    (episode.root / "line" / "0025.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")  # a frame of shot c
    code = main(
        [
            "batch",
            str(manifest),
            "--executor",
            "ray",
            "--workers",
            "2",
            "--cpus-per-worker",
            "1",
            "--max-attempts",
            "2",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1, err
    assert "shot 'c'" in err and "2 attempts on 2 workers" in err, err
    work = manifest.with_name("shots.work")
    assert (work / "shots" / "a.json").is_file() and (work / "shots" / "b.json").is_file()
    assert not (work / "shots" / "c.json").exists() and not (episode.root / "out").exists()
    assert read_status(work, "c")["state"] == "failed"


class HangingWorker(ShotWorker):
    """Test double: the first attempt of shot `b` never returns."""

    def render(self, task):
        if task["shot"] == "b" and task["attempt"] == 1:
            time.sleep(3600)
        return super().render(task)


def test_hung_shot_is_killed_at_its_timeout_and_retried(ray_local, episode, tmp_path):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the double travels by value
    manifest = episode.manifest()
    ref = render_shots(manifest, work=tmp_path / "local", output=tmp_path / "local-out", progress=False)
    res = render_shots(
        manifest,
        work=tmp_path / "ray",
        output=tmp_path / "ray-out",
        progress=False,
        executor="ray",
        executor_options={**WORKER, "shot_timeout": 2.0, "min_timeout": 4.0, "worker_class": HangingWorker},
    )
    b = next(s for s in res.shots if s.name == "b")
    assert [a["kind"] for a in b.attempts] == ["timeout"] and b.status == "rendered"
    assert frames_of(res.work) == frames_of(ref.work)
    assert {p.name: p.read_bytes() for p in sorted(res.output.iterdir())} == {
        p.name: p.read_bytes() for p in sorted(ref.output.iterdir())
    }


def test_killed_driver_rerun_skips_finished_shots(ray_local, tmp_path, sample_reference):
    ref_work, ref_out = sample_reference
    manifest = copy_sample(tmp_path)
    work = manifest.with_name("shots.work")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lvcd",
            "batch",
            str(manifest),
            "--executor",
            "ray",
            "--ray-address",
            ray.get_runtime_context().gcs_address,
            "--workers",
            "1",
            "--cpus-per-worker",
            "1",
            "-o",
            str(tmp_path / "out.mp4"),
            "--quiet",
        ],
        env=env,
    )
    try:
        wait_for(lambda: (work / "shots" / "shot1.json").is_file() or driver.poll() is not None, "shot1 to finish")
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait(60)
    assert not (work / "shots" / "shot2.json").exists(), "the driver finished before it could be killed"
    res = render_shots(manifest, output=tmp_path / "out.mp4", progress=False, executor="ray", executor_options=WORKER)
    assert [s.status for s in res.shots][0] == "up to date" and res.shots[1].status in ("rendered", "resumed")
    assert res.output.read_bytes() == ref_out.read_bytes()
    assert frames_of(res.work) == frames_of(ref_work)


def test_executor_ray_without_ray_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = main(["batch", str(copy_sample(tmp_path)), "--executor", "ray", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "pip install 'lvcd[ray]'" in err, err
    assert not (tmp_path / "sample" / "shots.work").exists()  # failed before planning anything


# last: it replaces the module's local instance with a multi-node cluster
def test_removed_node_is_replaced_and_the_shot_resumes(no_ray_left_behind, tmp_path, diffusion):
    from ray.cluster_utils import Cluster

    ep, ref_work, _ = diffusion
    _shutdown()
    cluster = _cluster["cluster"] = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "temp_dir": os.path.join(no_ray_left_behind, "cluster"),
            "_system_config": FAST_HEALTH_CHECKS,
        },
    )
    node = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    _remember_children()
    work = tmp_path / "w"
    thread, box = in_thread(
        render_shots,
        ep.manifest,
        work=work,
        only=["long"],
        progress=False,
        drift=False,
        executor="ray",
        executor_options={"workers": 1, "cpus_per_worker": 1},
    )
    wait_for(
        lambda: (work / "shots" / "long.state" / "ckpt" / "forward" / "seg_00000.safetensors").is_file(),
        "the first window checkpoint of shot long",
    )
    # freeze the worker at once: on a loaded machine the tiny shot's last window could otherwise finish (and its result
    # reach the driver) before the node is gone, and its retry would find the shot done, with nothing to resume
    pid = worker_pid(work, "long")
    os.kill(pid, signal.SIGSTOP)
    cluster.remove_node(node, allow_graceful=False)
    with contextlib.suppress(ProcessLookupError):  # a lost machine takes its processes with it
        os.kill(pid, signal.SIGKILL)
    cluster.add_node(num_cpus=1)  # the autoscaler's replacement node
    _remember_children()
    thread.join(300)
    _remember_children()
    assert "error" not in box, box.get("error")
    (long,) = box["result"].shots
    assert long.actor_restarted and long.resumed_windows >= 1
    assert frames_of(work) == {k: v for k, v in frames_of(ref_work).items() if k.startswith("long/")}
    _shutdown()
