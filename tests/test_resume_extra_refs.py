"""Render keys with extra references (issue 15): their content is part of the key; without them keys are as before."""

import numpy as np
from PIL import Image

from lvcd.options import RenderOptions
from lvcd.resume import checkpoint_folder, extra_reference_hashes


def test_checkpoint_key_follows_extra_reference_content(tmp_path):
    ref = np.zeros((8, 8, 3), np.uint8)
    clip = tmp_path / "in.png"
    Image.fromarray(ref).save(clip)
    sheet = tmp_path / "sheet.png"
    Image.fromarray(ref + 10).save(sheet)
    kw = dict(backend="diffusion", fingerprint={}, device="cpu", dtype="torch.float32")
    opts = RenderOptions.of()

    def key(extra):
        return checkpoint_folder(tmp_path / "w", clip, ref, 5, opts, extra_references=extra, **kw).name

    plain = key(None)
    assert key([]) == plain == checkpoint_folder(tmp_path / "w", clip, ref, 5, opts, **kw).name
    with_sheet = key([{"image": str(sheet)}])
    assert with_sheet != plain
    Image.fromarray(ref + 20).save(sheet)  # same path, other pixels
    assert key([{"image": str(sheet)}]) != with_sheet
    masks = np.zeros((5, 8, 8), np.uint8)
    hashes = extra_reference_hashes([{"image": str(sheet), "target_mask": masks}])
    assert set(hashes[0]) == {"image", "target_mask"}
    assert extra_reference_hashes([{"image": str(sheet), "target_mask": masks + 1}]) != hashes
