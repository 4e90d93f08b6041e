"""The page in a real browser (headless Debian Chromium via Playwright) on a copy of the bundled sample: both shots
with thumbnails; a keyframe dropped on shot 2 changes the manifest on disk (and it validates); preview shows a
coloured frame; render all reaches 100% and the assembled video downloads. A screenshot of each state is saved in
the test's tmp folder (LVCD_UI_SCREENSHOTS=DIR copies them there too, e.g. to refresh docs/ui.png)."""

from __future__ import annotations

import base64
import os
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lvcd.shots import load_manifest


def _shot(page, path: Path, shots: list):
    page.screenshot(path=str(path), full_page=True)
    shots.append(path)


def _drop_file(page, selector: str, name: str, data: bytes, mime: str = "image/png") -> None:
    """Drop a file on an element the way a file manager does (a DragEvent carrying a DataTransfer)."""
    page.evaluate(
        """([sel, name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: mime}));
            const el = document.querySelector(sel);
            for (const type of ["dragenter", "dragover", "drop"])
                el.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
        }""",
        [selector, name, base64.b64encode(data).decode(), mime],
    )


def _coloured(png: bytes) -> float:
    """Fraction of clearly coloured (not grey) pixels."""
    import io

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return float(((rgb.max(-1) - rgb.min(-1)) > 40).mean())


def test_page_end_to_end(browser, served, sample, tmp_path):
    t0 = time.monotonic()
    shots: list[Path] = []
    page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(served.url)

    # 1. both shots, each with three loaded lineart thumbnails
    for name in ("shot1", "shot2"):
        page.wait_for_selector(f"#shot-{name}")
        for k in range(3):
            page.wait_for_function(
                "id => { const i = document.querySelector(`#${id} img`); "
                "return i && i.complete && i.naturalWidth > 0 }",
                arg=f"thumb-{name}-{k}",
            )
    assert page.locator("#shots > .shot").count() == 2
    assert page.inner_text("#shot-shot2 .range").startswith("24–47")
    _shot(page, tmp_path / "ui-1-shots.png", shots)
    page.fill("#filter", "shot2")  # 200 shots need a filter
    assert not page.is_visible("#shot-shot1") and page.is_visible("#shot-shot2")
    page.fill("#filter", "")
    assert page.is_visible("#shot-shot1")

    other = browser.new_page()
    other.goto(served.url)
    other.wait_for_selector("#shot-shot2")

    # 2. drop a keyframe on shot 2 (a recoloured copy of its reference, for frame 30) -> manifest on disk changes
    before = sample.read_text()
    ref = np.asarray(Image.open(sample.parent / "reference_shot2.png").convert("RGB"))
    import io

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(ref[..., ::-1])).save(buf, "PNG")
    page.fill("#frame-shot2", "30")
    _drop_file(page, "#drop-shot2", "shot2 key.png", buf.getvalue())
    page.wait_for_function(
        "() => document.querySelector('#frame-shot2') && "
        "document.querySelector('#frame-shot2').value === '30' && "
        "document.querySelector('#drop-shot2').classList.contains('filled')"
    )
    deadline = time.monotonic() + 10
    while sample.read_text() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    after = sample.read_text()
    assert after != before
    m = load_manifest(sample)
    s2 = m.shot("shot2")
    assert s2.reference_frame == 30 and s2.reference.parent.name == "keyframes" and s2.reference.is_file()
    assert m.shot("shot1").reference.name == "reference.png"  # the other shot is untouched
    page.wait_for_function(
        "() => { const i = document.querySelector('#drop-shot2 img'); "
        "return i && i.src.includes('shot2_f000030_') && i.complete && i.naturalWidth > 0 }"
    )
    _shot(page, tmp_path / "ui-2-keyframe.png", shots)
    # a second tab, open since before the drop, shows the new keyframe by itself (it polls)
    other.wait_for_function(
        "() => { const i = document.querySelector('#drop-shot2 img'); return i && i.src.includes('shot2_f000030_') }",
        timeout=10000,
    )
    assert other.input_value("#frame-shot2") == "30"
    other.close()

    # 3. preview shot 2 -> a coloured frame appears beside the lineart
    page.click("#preview-shot2")
    page.wait_for_selector("#preview-panel-shot2:not(.hidden)")
    page.wait_for_function(
        "() => { const i = document.querySelector('#preview-img-shot2'); "
        "return i && i.complete && i.naturalWidth > 0 }",
        timeout=30000,
    )
    src = page.get_attribute("#preview-img-shot2", "src")
    assert _coloured(page.request.get(served.url + src).body()) > 0.2
    assert "frame 30" in page.inner_text("#preview-panel-shot2")
    _shot(page, tmp_path / "ui-3-preview.png", shots)

    # 4. render all -> 100%, then the assembled video downloads
    page.click("#render-all")
    page.wait_for_function("() => document.querySelector('#progress-all').dataset.state === 'done'", timeout=45000)
    assert page.get_attribute("#progress-all", "data-percent") == "100"
    assert "100%" in page.inner_text("#progress-all-text")
    for name in ("shot1", "shot2"):
        assert page.inner_text(f"#status-{name}").lower() == "done"
    page.wait_for_selector("#download-video:not(.disabled)")
    page.click("#view-color")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.thumb img')].every(i => i.complete && "
        "i.naturalWidth > 0 && i.src.includes('kind=color'))"
    )
    with page.expect_download() as dl:
        page.click("#download-video")
    video = tmp_path / dl.value.suggested_filename
    dl.value.save_as(video)
    assert video.suffix == ".mp4" and video.stat().st_size > 1000
    from lvcd.video import probe

    assert probe(video).frame_count == 48
    _shot(page, tmp_path / "ui-4-rendered.png", shots)
    assert not errors, errors
    page.close()

    if os.environ.get("LVCD_UI_SCREENSHOTS"):
        out = Path(os.environ["LVCD_UI_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        for p in shots:
            shutil.copy(p, out / p.name)
    assert all(p.stat().st_size > 0 for p in shots)
    print(f"page test: {time.monotonic() - t0:.1f} s; screenshots in {tmp_path}")
