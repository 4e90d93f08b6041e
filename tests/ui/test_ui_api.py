"""The JSON API of `lvcd ui` against a real server on a copy of the bundled sample: uploads (good, bad, concurrent),
options, keyframe removal, previews, progress from the status files, and manifest changes seen by a second client."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
from PIL import Image

from lvcd.shots import load_manifest
from lvcd.status import write_status


def call(served, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    headers = {**({"X-LVCD": "1"} if method != "GET" else {}), **(headers or {})}
    req = urllib.request.Request(served.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            data, status, ctype = r.read(), r.status, r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        data, status, ctype = e.read(), e.code, e.headers.get("content-type", "")
    return status, (json.loads(data) if "json" in ctype else data)


def upload(served, shot: str, filename: str, data: bytes, **fields):
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return call(
        served,
        "POST",
        f"/api/shots/{shot}/keyframes",
        body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def keyframe(sample) -> bytes:
    """A valid coloured keyframe for shot 2 (its reference with the channels swapped, so it differs)."""
    rgb = np.asarray(Image.open(sample.parent / "reference_shot2.png").convert("RGB"))
    return png(np.ascontiguousarray(rgb[..., ::-1]))


def test_shots_and_thumbnails(served):
    status, d = call(served, "GET", "/api/shots")
    assert status == 200
    assert [s["name"] for s in d["shots"]] == ["shot1", "shot2"]
    s2 = d["shots"][1]
    assert (s2["start"], s2["end"], s2["thumbs"]) == (24, 48, [24, 35, 47])
    assert s2["tc_start"] == "00:00:01:00" and s2["keyframes"][0]["frame"] == 24
    status, data = call(served, "GET", "/api/frames/35.png?width=128")
    assert status == 200 and Image.open(io.BytesIO(data)).size == (128, 96)
    assert call(served, "GET", "/api/frames/48.png")[0] == 404
    status, data = call(served, "GET", "/api/shots/shot2/keyframes/24/image")
    assert status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "case",
    [
        "not-an-image",
        "too-large",
        "dotdot-name",
        "unknown-shot",
        "wrong-extension",
        "lineart-as-keyframe",
        "frame-outside-shot",
    ],
)
def test_bad_uploads_are_refused_and_change_nothing(served, sample, keyframe, case):
    before = sample.read_bytes()
    line = np.asarray(Image.open(sample.parent / "line" / "0024.png").convert("RGB"))
    shot, name, data, fields = "shot2", "key.png", keyframe, {}
    if case == "not-an-image":
        data = b"this is a text file, not a picture\n"
    elif case == "too-large":
        data = keyframe + b"\0" * (20 * 2**20)
    elif case == "dotdot-name":
        name = "../../outside.png"
    elif case == "unknown-shot":
        shot = "shot9"
    elif case == "wrong-extension":
        name = "key.jpg"
    elif case == "lineart-as-keyframe":
        data = png(line)
    elif case == "frame-outside-shot":
        fields = {"frame": "12"}
    status, body = upload(served, shot, name, data, **fields)
    expected = {
        "not-an-image": (415, "not an image"),
        "too-large": (413, "limit is 20 MB"),
        "dotdot-name": (400, "not a plain file name"),
        "unknown-shot": (404, "no shot named 'shot9'"),
        "wrong-extension": (415, "holds PNG"),
        "lineart-as-keyframe": (422, "grayscale lineart"),
        "frame-outside-shot": (422, "outside the shot (frames 24-47)"),
    }[case]
    assert status == expected[0], body
    assert expected[1] in body["error"], body
    assert sample.read_bytes() == before
    assert not any((sample.parent / "keyframes").glob("*")) if (sample.parent / "keyframes").exists() else True
    assert not (sample.parent.parent / "outside.png").exists()


def test_changes_need_the_page_header_and_a_loopback_host(served, sample, keyframe):
    """A form on another web site (CSRF) or a rebound DNS name cannot change the manifest."""
    before = sample.read_bytes()
    status, body = call(
        served, "PATCH", "/api/shots/shot1/options", b'{"seed": 1}', {"Content-Type": "application/json", "X-LVCD": ""}
    )
    assert status == 403 and "x-lvcd" in body["error"]
    status, body = call(served, "GET", "/api/shots", headers={"Host": f"evil.example:{served.port}"})
    assert status == 421 and "127.0.0.1 only" in body["error"]
    assert call(served, "GET", "/api/shots", headers={"Host": f"localhost:{served.port}"})[0] == 200
    assert sample.read_bytes() == before


def test_path_traversal_in_urls_is_refused(served, sample):
    for path in (
        "/api/shots/..%2F..%2Fetc%2Fpasswd/keyframes/0/image",
        "/api/shots/..%2Fshots.yaml/preview",
        "/api/download/shots/..%2F..%2Fshots.yaml.zip",
        "/static/..%2F..%2F..%2Fshots.yaml",
    ):
        status, _ = call(served, "POST" if path.endswith("preview") else "GET", path)
        assert status in (404, 405), path


def test_upload_sets_the_keyframe_and_the_manifest_validates(served, sample, keyframe):
    status, body = upload(served, "shot2", "shot2 final (v3).png", keyframe, frame="00:00:01:06")
    assert status == 200, body
    assert body["frame"] == 30 and body["image"].startswith("keyframes/shot2_f000030_")
    m = load_manifest(sample)
    assert m.shot("shot2").reference_frame == 30
    assert m.shot("shot2").reference.read_bytes() == keyframe
    # an extra keyframe turns the shot into `references`; removing it turns it back
    status, body = upload(served, "shot2", "extra.png", keyframe, frame="40", mode="add")
    assert status == 200, body
    m = load_manifest(sample)
    assert [s.name for s in m.shots] == ["shot1", "shot2.f30", "shot2.f40"]
    assert call(served, "DELETE", "/api/shots/shot2/keyframes/40")[0] == 200
    m = load_manifest(sample)
    assert [s.name for s in m.shots] == ["shot1", "shot2"] and m.shot("shot2").reference_frame == 30
    assert call(served, "DELETE", "/api/shots/shot2/keyframes/30")[0] == 200
    assert load_manifest(sample).shot("shot2").reference is None  # an empty slot, as `lvcd shots` writes
    status, body = call(served, "POST", "/api/shots/shot2/preview")
    assert status == 409 and "no keyframe yet" in body["error"]


def test_two_concurrent_uploads_to_different_shots_both_land(served, sample, keyframe):
    ref1 = (sample.parent / "reference.png").read_bytes()
    ref1 = png(np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(ref1)).convert("RGB"))[::-1]))  # flipped
    barrier, results = threading.Barrier(2), {}

    def go(shot, data, frame):
        barrier.wait()
        results[shot] = upload(served, shot, f"{shot}.png", data, frame=frame)

    threads = [threading.Thread(target=go, args=a) for a in (("shot1", ref1, "5"), ("shot2", keyframe, "30"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results["shot1"][0] == 200 and results["shot2"][0] == 200, results
    m = load_manifest(sample)
    assert (m.shot("shot1").reference_frame, m.shot("shot2").reference_frame) == (5, 30)
    assert m.shot("shot1").reference.read_bytes() == ref1 and m.shot("shot2").reference.read_bytes() == keyframe


def test_options_are_validated_like_the_cli(served, sample):
    before = sample.read_bytes()
    status, body = call(
        served,
        "PATCH",
        "/api/shots/shot1/options",
        json.dumps({"steps": 0}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 422 and any("steps" in p for p in body["problems"])
    status, body = call(
        served,
        "PATCH",
        "/api/shots/shot1/options",
        json.dumps({"stepz": 3}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 422 and any("`stepz`" in p and "steps" in p for p in body["problems"])
    assert sample.read_bytes() == before
    body = json.dumps({"backend": "bucket", "seed": 7}).encode()
    status, _ = call(served, "PATCH", "/api/shots/shot1/options", body, {"Content-Type": "application/json"})
    assert status == 200
    assert load_manifest(sample).shot("shot1").options == {"backend": "bucket", "seed": 7}


def test_preview_colours_the_first_window(served, sample):
    status, info = call(served, "POST", "/api/shots/shot2/preview")
    assert status == 200, info
    assert info["backend"] == "bucket" and info["frames"] == list(range(24, 39))
    status, data = call(served, "GET", "/api/frames/30.png?kind=color&width=0")
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert status == 200 and rgb.shape == (192, 256, 3)
    assert ((rgb.max(-1) - rgb.min(-1)) > 40).mean() > 0.2  # coloured, not lineart
    assert call(served, "GET", "/api/frames/5.png?kind=color")[0] == 404  # shot 1: neither rendered nor previewed


def test_progress_comes_from_the_status_files(served, sample):
    """A render started elsewhere (`lvcd batch`, another machine) shows up: the page reads the status files."""
    work = sample.with_name("shots.work")
    write_status(work, "shot1", "running", frames_done=12, frames_total=24, started=1.0)
    write_status(work, "shot2", "failed", frames_done=3, frames_total=24, started=1.0, error="disk full")
    status, p = call(served, "GET", "/api/progress")
    assert status == 200
    assert p["shots"]["shot1"]["state"] == "running" and p["shots"]["shot1"]["percent"] == 50.0
    assert p["shots"]["shot1"]["eta_s"] is not None
    assert p["shots"]["shot2"]["state"] == "failed" and p["shots"]["shot2"]["error"] == "disk full"


def test_a_second_client_sees_changes(served, sample, keyframe):
    v0 = call(served, "GET", "/api/progress")[1]["version"]
    assert upload(served, "shot2", "k.png", keyframe, frame="31")[0] == 200
    v1 = call(served, "GET", "/api/progress")[1]["version"]
    assert v1 != v0
    assert call(served, "GET", "/api/shots")[1]["shots"][1]["keyframes"][0]["frame"] == 31
    # an edit in a text editor is picked up too, and a broken one is reported with the validator's problems
    sample.write_text(sample.read_text().replace("end: 48", "end: 49"))
    status, body = call(served, "GET", "/api/shots")
    assert status == 422 and any("past the end of the input" in p for p in body["problems"])


def test_render_one_shot_then_it_downloads(served, sample):
    import time
    import zipfile

    status, job = call(
        served, "POST", "/api/render", json.dumps({"shots": ["shot1"]}).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200 and job["state"] == "running"
    assert call(served, "POST", "/api/render", b"")[0] == 409  # one render at a time
    deadline = time.monotonic() + 60
    while (p := call(served, "GET", "/api/progress")[1])["job"]["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert p["job"]["state"] == "done" and p["job"]["percent"] == 100.0
    assert p["shots"]["shot1"]["state"] == "done" and p["shots"]["shot1"]["finished"]
    status, data = call(served, "GET", "/api/download/shots/shot1.zip")
    assert status == 200 and len(zipfile.ZipFile(io.BytesIO(data)).namelist()) == 24
    assert call(served, "GET", "/api/download/shots/shot2.zip")[0] == 409
    assert call(served, "GET", "/api/download/video")[0] == 404  # only one shot rendered: nothing assembled
