import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from neuroalign.data.stimuli import StimulusSet
from neuroalign.errors import DataError


def _images(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def _write_folder(path, imgs):
    path.mkdir()
    for i, im in enumerate(imgs):
        Image.fromarray(im).save(path / f"img{i}.png")
    return path


def test_content_hash_changes_with_one_pixel(tmp_path):
    imgs = _images()
    a = StimulusSet.from_arrays(imgs, list("abcd"), "s")
    imgs2 = imgs.copy()
    imgs2[2, 5, 5, 1] ^= 1
    b = StimulusSet.from_arrays(imgs2, list("abcd"), "s")
    c = StimulusSet.from_arrays(imgs.copy(), list("abcd"), "s")
    assert a.content_hash != b.content_hash
    assert a.content_hash == c.content_hash
    assert len(a.content_hash) == 64


def test_folder_and_zip_read_the_same_bytes(tmp_path):
    imgs = _images()
    folder = _write_folder(tmp_path / "imgs", imgs)
    zpath = tmp_path / "imgs.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"sub/{p.name}")
    f = StimulusSet.from_folder(folder)
    z = StimulusSet.from_zip(zpath)
    assert f.stimulus_ids == z.stimulus_ids == ["img0", "img1", "img2", "img3"]
    assert f.content_hash == z.content_hash
    np.testing.assert_array_equal(np.asarray(z.load_image("img1")), imgs[1])


def test_zip_member_escaping_is_refused(tmp_path):
    zpath = tmp_path / "evil.zip"
    buf = io.BytesIO()
    Image.fromarray(_images(1)[0]).save(buf, "PNG")
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("ok.png", buf.getvalue())
        zf.writestr("../escape.png", buf.getvalue())
    with pytest.raises(DataError, match=r"\.\./escape\.png.*escapes"):
        StimulusSet.from_zip(zpath)


def test_non_rgb_and_corrupt_images_named(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(_images(1)[0][..., 0]).save(folder / "gray.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    s = StimulusSet.from_folder(folder)
    with pytest.raises(DataError, match="gray.png.*mode 'L'.*color='convert'"):
        s.load_image("gray")
    with pytest.raises(DataError, match="broken.jpg.*corrupt"):
        s.load_image("broken")
    assert StimulusSet.from_folder(folder, color="convert").load_image("gray").mode == "RGB"


def test_duplicate_ids_refused():
    with pytest.raises(DataError, match="duplicate stimulus_id"):
        StimulusSet.from_arrays(_images(2), ["x", "x"], "dup")
