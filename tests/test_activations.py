"""Extraction: hooks equal a manual forward pass, the cache keys on everything that changes
the numbers, interrupted runs leave nothing behind, budgets refuse early, twins score directly."""

from __future__ import annotations

import io
import re
import threading

import dask.array
import numpy as np
import pytest
import torch
from torch import nn

from neuroalign.activations import Reduction, extract, extract_outputs, open_activations
from neuroalign.activations.store import chunk_rows
from neuroalign.data.stimuli import StimulusSet
from neuroalign.errors import BudgetError, ConfigError, DataError, ModelError
from neuroalign.models import LoadedModel, Preprocessing, load_model

PRE = Preprocessing(input_size=32, resize=36, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(self.pool(self.block2(self.block1(x))).flatten(1))


def tiny_model(seed: int = 0, pre: Preprocessing = PRE, **kw) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel("tiny", TinyNet(), ["block1", "block2", "head"], pre, **kw)


def stimuli(n: int = 10, seed: int = 0, size: int = 40) -> StimulusSet:
    imgs = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return StimulusSet.from_arrays(imgs, [f"img{i:03d}" for i in range(n)], f"random{seed}")


def count_forwards(model: LoadedModel) -> list[int]:
    calls = [0]
    model.module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def manual_batches(model: LoadedModel, st: StimulusSet, batch_size: int) -> list[torch.Tensor]:
    tf = model.preprocessing.transform()
    x = torch.stack([tf(st.load_image(s)) for s in st.stimulus_ids])
    return list(x.split(batch_size))


@pytest.fixture()
def cache(tmp_path):
    return tmp_path / "cache"


def test_hooks_equal_manual_forward_pass(cache):
    base = load_model("torchvision:resnet18")
    model = LoadedModel(base.name, base.module, base.layers, PRE)
    st = stimuli(7)
    red = {"layer2": "flatten", "layer3.0.conv1": "avgpool", "fc": "flatten"}
    out = extract(model, st, list(red), reduction=red, batch_size=4, cache_dir=cache, progress=False)
    m = model.module
    want = {k: [] for k in red}
    with torch.inference_mode():
        for x in manual_batches(model, st, 4):
            x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
            l2 = m.layer2(m.layer1(x))
            want["layer2"].append(l2.flatten(1))
            want["layer3.0.conv1"].append(m.layer3[0].conv1(l2).mean(dim=(2, 3)))
            want["fc"].append(m.fc(m.avgpool(m.layer4(m.layer3(l2))).flatten(1)))
    for layer, parts in want.items():
        arr = out[layer]
        assert arr.dims == ("presentation", "feature")
        assert list(arr["stimulus_id"].values) == st.stimulus_ids
        np.testing.assert_array_equal(arr.values, torch.cat(parts).numpy())  # exact on CPU
    l2 = out["layer2"]
    assert l2.shape == (7, 128 * 4 * 4)
    # flatten keeps positions as coords: feature f is channel c at (y, x)
    np.testing.assert_array_equal(l2["channel"].values[:17], [0] * 16 + [1])
    np.testing.assert_array_equal(l2["x"].values[:5], [0, 1, 2, 3, 0])
    assert isinstance(l2.data, dask.array.Array)  # opened lazily from Zarr
    assert l2.chunks[0] == (4, 3)


def test_srp_projection_is_the_coalesced_matrix_of_its_draws(monkeypatch):
    """The row-wise CSR build equals the definition: the seeded draws (row r gets sqrt(n_in)
    columns and signs) as a COO matrix, coalesced (a column drawn twice holds the sum); int32
    indices. A batch projected in chunks of images gives the same numbers, bit for bit."""
    import math

    from neuroalign.activations import reduction

    dim, n_in, seed = 64, 900, 3  # 30 draws per row of 900 columns: repeated columns occur
    g = torch.Generator().manual_seed(seed)
    s = round(math.sqrt(n_in))
    cols = torch.randint(0, n_in, (dim * s,), generator=g)
    signs = torch.randint(0, 2, (dim * s,), generator=g).float().mul_(2).sub_(1)
    rows = torch.arange(dim).repeat_interleave(s)
    coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), signs * math.sqrt(n_in / (dim * s)), (dim, n_in))
    expected = coo.coalesce()
    assert expected.values().numel() < dim * s  # the case of a repeated column is exercised
    got = Reduction.parse(f"srp:{dim}:{seed}").projection(n_in, torch.device("cpu"))
    assert got.layout == torch.sparse_csr and got.col_indices().dtype == torch.int32
    assert torch.equal(got.to_dense(), expected.to_dense())
    assert got.values().numel() == expected.values().numel()  # cancelled pairs stay as explicit zeros
    x = torch.randn(12, 4, 15, 15).contiguous(memory_format=torch.channels_last)
    whole = Reduction.parse(f"srp:{dim}:{seed}")(x)
    monkeypatch.setattr(reduction, "_SRP_CHUNK_BYTES", 5 * 4 * n_in)  # 5 images per product
    assert torch.equal(Reduction.parse(f"srp:{dim}:{seed}")(x), whole)


def test_chunk_rows_divide_batch_and_cap_chunk_size():
    assert chunk_rows(100, 32) == 32
    assert chunk_rows(25088 * 64, 32) == 4  # 6.4 MB per row: 4 rows stay under 32 MB
    assert chunk_rows(10**8, 32) == 1


def test_srp_is_seeded_sparse_and_keeps_norms():
    r = Reduction.parse("srp:256")
    assert str(r) == "srp:256:0" and r.to_dict() != Reduction.parse("srp:256:1").to_dict()
    p = r.projection(2500, torch.device("cpu")).to_dense()
    assert torch.equal(p, Reduction.parse("srp:256").projection(2500, torch.device("cpu")).to_dense())
    assert not torch.equal(p, Reduction.parse("srp:256:1").projection(2500, torch.device("cpu")).to_dense())
    assert ((p != 0).sum(1) <= 50).all() and (p != 0).sum() > 256 * 45  # sqrt(2500) nonzeros per row
    x = torch.randn(200, 2500)
    y = r(x.view(200, 25, 10, 10))
    np.testing.assert_allclose(y.numpy(), (x @ p.T).numpy(), rtol=1e-4, atol=1e-4)
    ratio = (y.norm(dim=1) ** 2 / x.norm(dim=1) ** 2)
    assert abs(ratio.mean().item() - 1) < 0.03 and ratio.std().item() < 0.2  # Johnson-Lindenstrauss
    with pytest.raises(ConfigError, match="srp:<dim>"):
        Reduction.parse("srp:abc")


def test_rerun_reads_cache_without_running_the_model(cache):
    model, st = tiny_model(), stimuli(10)
    calls = count_forwards(model)
    first = extract(model, st, ["block1", "block2"], batch_size=4, cache_dir=cache, progress=False)
    assert calls[0] == 1 + 3  # one probe + ceil(10 / 4) batches
    again = extract(model, st, ["block1", "block2"], batch_size=4, cache_dir=cache, progress=False)
    assert calls[0] == 4
    for layer in first:
        assert again[layer].attrs["store"] == first[layer].attrs["store"]
        np.testing.assert_array_equal(again[layer].values, first[layer].values)
    # A new layer alone runs the model; the cached ones are not recomputed.
    extract(model, st, ["block1", "head"], batch_size=4, cache_dir=cache, progress=False)
    assert calls[0] == 8
    # Each store says what it is keyed on.
    attrs = first["block2"].attrs
    assert attrs["model"] == f"tiny@sha256:{model.weights_sha256}" and attrs["stimuli"] == st.content_hash
    assert attrs["layer"] == "block2" and attrs["reduction_spec"] == "avgpool"



def test_display_name_does_not_split_the_cache(cache):
    """The workflow extracts a model under its spec and scores it under the grid's name
    (`score --name`, set before anything is computed): the score must read the extraction's
    stores, not extract again."""
    st = stimuli(10)
    first = extract(tiny_model(), st, ["block1"], batch_size=4, cache_dir=cache, progress=False)
    renamed = tiny_model()
    renamed.name = "tiny-as-named-in-the-grid"
    calls = count_forwards(renamed)
    again = extract(renamed, st, ["block1"], batch_size=4, cache_dir=cache, progress=False)
    assert calls[0] == 0  # nothing ran
    assert again["block1"].attrs["store"] == first["block1"].attrs["store"]
    assert len(list((cache / "activations").glob("*/*.zarr"))) == 1
    assert renamed.identity.startswith("tiny-as-named-in-the-grid@")  # results still carry the name


def test_cache_invalidates_on_weights_input_size_image_and_reduction(cache):
    st = stimuli(6)
    base = extract(tiny_model(), st, "block2", cache_dir=cache, progress=False)["block2"]

    def store(model, s=st, reduction="avgpool"):
        return extract(model, s, "block2", reduction=reduction, cache_dir=cache, progress=False)["block2"]

    changed_weights = tiny_model()
    with torch.no_grad():
        changed_weights.module.block2[0].bias += 0.5
    bigger = tiny_model(pre=Preprocessing(input_size=36, resize=36, mean=PRE.mean, std=PRE.std))
    imgs = np.stack([np.asarray(st.load_image(s)) for s in st.stimulus_ids])
    imgs[3, 18:22, 18:22] = 255 - imgs[3, 18:22, 18:22]  # a patch of one image
    one_image = StimulusSet.from_arrays(imgs, st.stimulus_ids, st.identifier)
    variants = {
        "weights": store(changed_weights),
        "input size": store(bigger),
        "one image": store(tiny_model(), one_image),
        "reduction": store(tiny_model(), reduction="srp:8"),
        "srp seed": store(tiny_model(), reduction="srp:8:1"),
    }
    paths = {base.attrs["store"]} | {v.attrs["store"] for v in variants.values()}
    assert len(paths) == 1 + len(variants)
    assert not np.array_equal(variants["weights"].values, base.values)
    assert not np.array_equal(variants["input size"].values, base.values)
    diff = np.abs(variants["one image"].values - base.values).max(axis=1)
    assert diff[3] > 0 and (np.delete(diff, 3) == 0).all()  # only the changed image differs
    assert not np.array_equal(variants["srp seed"].values, variants["reduction"].values)


def test_interrupted_run_leaves_no_store_and_rerun_matches(tmp_path):
    st = stimuli(12)
    model = tiny_model()
    batches = [0]

    def boom(*_):
        batches[0] += 1
        if batches[0] == 4:  # probe + 2 full batches written, then the third batch fails
            raise RuntimeError("killed")

    handle = model.module.block2.register_forward_hook(boom)
    with pytest.raises(RuntimeError, match="killed"):
        extract(model, st, ["block1", "head"], reduction="flatten", batch_size=4, cache_dir=tmp_path / "a",
                progress=False)
    assert [p for p in (tmp_path / "a").rglob("*") if p.is_dir() and p.name.endswith(".zarr")] == []
    assert not any(".tmp-" in p.name for p in (tmp_path / "a").rglob("*"))
    handle.remove()
    resumed = extract(model, st, ["block1", "head"], reduction="flatten", batch_size=4, cache_dir=tmp_path / "a",
                      progress=False)
    clean = extract(tiny_model(), st, ["block1", "head"], reduction="flatten", batch_size=4,
                    cache_dir=tmp_path / "b", progress=False)
    for layer in clean:
        assert resumed[layer].identical(clean[layer].assign_attrs(store=resumed[layer].attrs["store"]))


def test_two_writers_of_one_entry_leave_one_complete_store(cache):
    # Two writers (threads, each with its own copy of the model, as two processes would have)
    # race to the same cache entry: both finish, one complete store remains, no temporaries.
    barrier, errors = threading.Barrier(2), []
    models = [tiny_model(), tiny_model()]  # built first: the global RNG is not thread-safe
    assert models[0].identity == models[1].identity

    def work(model):
        try:
            barrier.wait()
            extract(model, stimuli(16), ["block1"], reduction="flatten", batch_size=2, cache_dir=cache,
                    progress=False)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    stores = list(cache.rglob("*.zarr"))
    assert len(stores) == 1 and not any(".tmp-" in p.name or ".old-" in p.name for p in cache.rglob("*"))
    got = open_activations(stores[0])
    want = extract(tiny_model(), stimuli(16), ["block1"], reduction="flatten", batch_size=2,
                   cache_dir=cache.parent / "ref", progress=False)["block1"]
    np.testing.assert_array_equal(got.values, want.values)


def test_budget_refuses_before_work_and_names_a_fitting_reduction(cache):
    model, st = tiny_model(), stimuli(10)
    calls = count_forwards(model)
    # block1 flatten: 8 channels × 32 × 32 = 8192 features × 10 stimuli × 4 bytes = 327.7 KB
    with pytest.raises(BudgetError) as err:
        extract(model, st, ["block2", "block1"], reduction="flatten", budget_bytes=200_000, cache_dir=cache,
                progress=False)
    msg = str(err.value)
    assert "'block1'" in msg and "327.7 KB" in msg and "avgpool" in msg
    assert calls[0] == 1 and not list(cache.rglob("*.zarr"))  # one probe, nothing written
    srp = re.search(r"srp:(\d+)", msg).group(1)
    assert int(srp) * 10 * 4 <= 200_000
    out = extract(model, st, ["block2", "block1"], reduction={"block2": "flatten", "block1": f"srp:{srp}"},
                  budget_bytes=200_000, cache_dir=cache, progress=False)
    assert out["block1"].shape == (10, int(srp))


def test_huge_srp_is_a_one_line_error_before_any_projection(tmp_path, monkeypatch, capsys):
    """Issue 24: ``--reduction srp:2000000000`` exhausted the machine's memory; with no budget
    given, the machine's memory bounds the features plus the projection (exit 2, one line)."""
    from PIL import Image

    from neuroalign.cli import main

    def never(*a, **k):  # on the old code the projection was built: fail instead of exhausting memory
        raise AssertionError("the projection was built")

    monkeypatch.setattr(Reduction, "projection", never)
    (tmp_path / "im").mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(tmp_path / "im" / f"s{i}.png")
    rc = main(["extract", "reference", "--stimuli", str(tmp_path / "im"), "--layers", "block1", "--device", "cpu",
               "--reduction", "srp:2000000000", "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "srp:2000000000" in err and "for the projection" in err and "would fit" in err
    assert not list((tmp_path / "c").rglob("*.zarr"))  # nothing half-written


def test_reductions_dispatch_from_one_table():
    from neuroalign.activations.reduction import KINDS

    shape = (4, 3, 5)
    assert KINDS == ("avgpool", "flatten", "srp")
    assert [Reduction.parse(k).n_features(shape) for k in ("avgpool", "flatten", "srp:7")] == [4, 60, 7]
    assert list(Reduction.parse("flatten").feature_coords(shape)) == ["channel", "y", "x"]
    assert Reduction.parse("srp:7:3").to_dict() == {"kind": "srp", "dim": 7, "seed": 3}
    assert Reduction.parse("flatten").to_dict() == {"kind": "flatten", "dim": None, "seed": None}
    assert Reduction.parse("avgpool").working_bytes(shape) == 0 < Reduction.parse("srp:7").working_bytes(shape)
    for bad in ("avgpool:3", "srp", "srp:0", "srp:1:2:3", "pca:4"):
        with pytest.raises(ConfigError):
            Reduction.parse(bad)


def test_unknown_layer_lists_closest_names_first(cache):
    with pytest.raises(ModelError, match=r"no layer 'blok2'\. Closest: block2, "):
        extract(tiny_model(), stimuli(2), ["blok2"], cache_dir=cache, progress=False)


def test_corrupt_and_grey_images_name_the_file(cache):
    st = stimuli(4)
    blobs = dict(st.blobs)
    blobs["img002"] = b"not an image"
    bad = StimulusSet(st.identifier, st.stimulus_ids, st.files, None, blobs=blobs)
    with pytest.raises(DataError, match=r"<memory>/img002\.png is corrupt"):
        extract(tiny_model(), bad, ["block1"], cache_dir=cache, progress=False)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(buf, format="PNG")
    blobs["img002"] = buf.getvalue()
    grey = StimulusSet(st.identifier, st.stimulus_ids, st.files, None, blobs=blobs)
    with pytest.raises(DataError, match=r"img002\.png has mode 'L'"):
        extract(tiny_model(), grey, ["block1"], cache_dir=cache, progress=False, num_workers=1)


def test_worker_decoding_equals_in_process(tmp_path):
    st = stimuli(9)
    a = extract(tiny_model(), st, ["block2"], batch_size=4, num_workers=2, cache_dir=tmp_path / "a",
                progress=False)["block2"]
    b = extract(tiny_model(), st, ["block2"], batch_size=4, num_workers=0, cache_dir=tmp_path / "b",
                progress=False)["block2"]
    np.testing.assert_array_equal(a.values, b.values)


def test_twin_outputs_are_neurons(cache):
    ids = ["n0", "n1", "n2", "n3", "n4"]
    twin = tiny_model(is_twin=True, neuroid_ids=ids, metadata={"region": "V4"})
    st = stimuli(6)
    out = extract_outputs(twin, st, batch_size=4, cache_dir=cache, progress=False)
    assert out.dims == ("presentation", "neuroid")
    assert list(out["neuroid_id"].values) == ids and set(out["region"].values) == {"V4"}
    assert "neuroid" not in out.indexes  # joins go through neuroid_id, never position
    with torch.inference_mode():
        want = torch.cat([twin.module(x) for x in manual_batches(twin, st, 4)])
    np.testing.assert_array_equal(out.values, want.numpy())
    calls = count_forwards(twin)
    extract_outputs(twin, st, batch_size=4, cache_dir=cache, progress=False)
    assert calls[0] == 0
    with pytest.raises(ModelError, match="5 units but 3 neuroid_id"):
        extract_outputs(tiny_model(is_twin=True, neuroid_ids=ids[:3]), st, cache_dir=cache, progress=False)
    with pytest.raises(ModelError, match="not a digital twin"):
        extract_outputs(tiny_model(), st, cache_dir=cache, progress=False)


# ---- the decode / preprocess / write pipeline -------------------------------------------

def jpeg_folder(folder, n: int = 11, seed: int = 1):
    """JPEGs of mixed sizes and aspect ratios (one PNG, one progressive JPEG)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = int(rng.integers(30, 90)), int(rng.integers(30, 90))
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        if i == 3:
            img.save(folder / f"im{i:02d}.png")
        else:
            img.save(folder / f"im{i:02d}.jpg", quality=85, progressive=i == 5)
    return StimulusSet.from_folder(folder)


@pytest.mark.parametrize("pre", [PRE, Preprocessing(input_size=24, resize=None, crop=True),
                                 Preprocessing(input_size=28, crop=False, interpolation="bicubic"),
                                 Preprocessing(input_size=33, resize=47, mean=(0.1, 0.2, 0.3), std=(0.7, 0.5, 0.3))])
def test_batch_preprocessing_is_bitwise_the_per_image_transform(tmp_path, pre):
    from neuroalign.activations.loader import BatchTransform

    st = jpeg_folder(tmp_path / "imgs")
    tf = pre.transform()
    images = [st.load_image(s) for s in st.stimulus_ids]
    batch = BatchTransform(tf)
    assert batch.fused
    got = batch(images)
    want = torch.stack([tf(im) for im in images])
    assert got.dtype == want.dtype == torch.float32 and got.shape == want.shape
    assert torch.equal(got, want)  # identical bits, not merely close


def test_unknown_transform_shape_is_applied_as_given():
    from torchvision import transforms as T

    from neuroalign.activations.loader import BatchTransform

    tf = T.Compose([T.Resize(20), T.CenterCrop(16), T.ToTensor(), T.Lambda(lambda t: t * 2)])
    images = [stimuli(3).load_image(s) for s in stimuli(3).stimulus_ids]
    batch = BatchTransform(tf)
    assert not batch.fused
    assert torch.equal(batch(images), torch.stack([tf(im) for im in images]))


@pytest.mark.parametrize("workers", [0, 1, 2, None])
def test_extraction_equals_per_image_reference_for_any_worker_count(tmp_path, workers):
    st = jpeg_folder(tmp_path / "imgs")
    model = tiny_model()
    out = extract(model, st, ["block1", "head"], reduction={"block1": "flatten", "head": "flatten"}, batch_size=3,
                  num_workers=workers, cache_dir=tmp_path / "c", progress=False)
    with torch.inference_mode():  # the pre-pipeline path: PIL transform per image, stacked, forward
        with capture_layers(model, ["block1", "head"]) as g:
            parts = {"block1": [], "head": []}
            for x in manual_batches(model, st, 3):
                model.module(x)
                for k, part in parts.items():
                    part.append(g[k].flatten(1))
        got = {k: torch.cat(v).numpy() for k, v in parts.items()}
    for layer, want in got.items():
        assert list(out[layer]["stimulus_id"].values) == st.stimulus_ids
        np.testing.assert_array_equal(out[layer].values, want)  # exact on CPU


def capture_layers(model, layers):
    from neuroalign.activations.hooks import capture

    return capture(model.module, layers, model_name=model.name)


def test_auto_workers(monkeypatch):
    from neuroalign.activations.loader import WORKERS_ENV, auto_workers

    monkeypatch.delenv(WORKERS_ENV, raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(2)), raising=False)
    assert auto_workers("cpu", 2) == 0  # nothing to overlap
    monkeypatch.setattr("torch.get_num_threads", lambda: 2)
    assert auto_workers("cpu", 16) == 0  # the forward pass's threads use both cores: decode inline
    assert auto_workers("cuda", 16) == 1  # 2 cores: one left for the main process
    monkeypatch.setattr("torch.get_num_threads", lambda: 1)
    assert auto_workers("cpu", 16) == 1  # a core torch leaves free decodes ahead
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(32)), raising=False)
    monkeypatch.setattr("torch.get_num_threads", lambda: 32)
    assert auto_workers("cuda", 16) == 8 and auto_workers("cpu", 16) == 0
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0}, raising=False)
    assert auto_workers("cpu", 16) == 0
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert auto_workers("cpu", 1) == 3
    monkeypatch.setenv(WORKERS_ENV, "two")
    with pytest.raises(ConfigError, match="NEUROALIGN_EXTRACT_WORKERS='two'"):
        auto_workers("cpu", 16)


def test_cpu_workers_run_niced_and_are_gone_afterwards(cache):
    import multiprocessing
    import os

    model, st = tiny_model(), stimuli(12)
    seen = []
    model.module.block2.register_forward_hook(
        lambda *_: seen.append([os.getpriority(os.PRIO_PROCESS, p.pid) for p in multiprocessing.active_children()]))
    extract(model, st, ["block1"], batch_size=3, num_workers=2, device="cpu", cache_dir=cache, progress=False)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    # both workers niced: read at the last forward pass, when each has delivered a batch (a worker that
    # has not yet run its init is still at the parent's priority, a race the second pass could lose)
    assert seen[1:] and seen[-1] == [min(19, base + 19)] * 2
    assert multiprocessing.active_children() == []
    assert [t.name for t in threading.enumerate() if t.name == "neuroalign-store-writer"] == []


def test_worker_errors_and_warnings_arrive_as_themselves(tmp_path, monkeypatch):
    from PIL import Image

    st = stimuli(9)
    blobs = dict(st.blobs)
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format="PNG")
    blobs["img004"] = buf.getvalue()  # tiny: a warning, from the worker
    small = StimulusSet(st.identifier, st.stimulus_ids, st.files, None, blobs=blobs)
    with pytest.warns(Warning, match=r"<memory>/img004\.png is only 8 x 8 pixels"):
        extract(tiny_model(), small, ["block1"], batch_size=2, num_workers=1, cache_dir=tmp_path / "a",
                progress=False)
    blobs["img007"] = b"\xff\xd8 truncated"
    bad = StimulusSet(st.identifier, st.stimulus_ids, st.files, None, blobs=blobs)
    with pytest.raises(DataError) as err, pytest.warns(Warning):
        extract(tiny_model(), bad, ["block1"], batch_size=2, num_workers=2, cache_dir=tmp_path / "b",
                progress=False)
    assert type(err.value) is DataError and "\n" not in str(err.value)  # the worker's own one-line error
    assert str(err.value).startswith("image <memory>/img007.png is corrupt")
    assert not list((tmp_path / "b").rglob("*.zarr")) and not any(".tmp-" in p.name for p in (tmp_path / "b").rglob("*"))


def test_background_write_error_fails_the_run_and_leaves_nothing(cache, monkeypatch):
    from neuroalign.activations import store

    real, calls = store.StoreWriter.write, [0]

    def write(self, start, rows):
        calls[0] += 1
        if calls[0] == 3:
            raise OSError(28, "No space left on device")
        return real(self, start, rows)

    monkeypatch.setattr(store.StoreWriter, "write", write)
    with pytest.raises(DataError, match="cannot write .*: no space left on the device"):  # named, not OSError
        extract(tiny_model(), stimuli(20), ["block1", "head"], batch_size=2, num_workers=0, cache_dir=cache,
                progress=False)
    assert not list(cache.rglob("*.zarr")) and not any(".tmp-" in p.name for p in cache.rglob("*"))
    assert [t for t in threading.enumerate() if t.name == "neuroalign-store-writer"] == []


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupt_with_writes_pending_leaves_nothing_and_rerun_matches(tmp_path, monkeypatch, workers):
    import multiprocessing
    import time

    from neuroalign.activations import store

    real = store.StoreWriter.write

    def slow_write(self, start, rows):  # writes lag behind the forward passes
        time.sleep(0.05)
        return real(self, start, rows)

    monkeypatch.setattr(store.StoreWriter, "write", slow_write)
    model, st, forwards = tiny_model(), stimuli(24), [0]

    def ctrl_c(*_):
        forwards[0] += 1
        if forwards[0] == 6:  # probe + 4 batches queued or written, then Ctrl-C
            raise KeyboardInterrupt

    handle = model.module.head.register_forward_hook(ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        extract(model, st, ["block1", "head"], reduction="flatten", batch_size=4, num_workers=workers,
                cache_dir=tmp_path / "a", progress=False)
    time.sleep(0.2)  # a writer still running would recreate the removed temporary store now
    assert [p for p in (tmp_path / "a").rglob("*") if p.name.endswith(".zarr") or ".tmp-" in p.name] == []
    assert [t for t in threading.enumerate() if t.name == "neuroalign-store-writer"] == []
    assert multiprocessing.active_children() == []
    handle.remove()
    monkeypatch.setattr(store.StoreWriter, "write", real)
    again = extract(model, st, ["block1", "head"], reduction="flatten", batch_size=4, num_workers=workers,
                    cache_dir=tmp_path / "a", progress=False)
    clean = extract(tiny_model(), st, ["block1", "head"], reduction="flatten", batch_size=4, num_workers=0,
                    cache_dir=tmp_path / "b", progress=False)
    for layer in clean:
        np.testing.assert_array_equal(again[layer].values, clean[layer].values)


def test_features_past_the_budget_stay_on_disk_and_score_the_same(cache):
    """A many-layer model's resident features are bounded by the budget (issue 29): layers are
    loaded while their total fits, the rest are read from their stores when a metric uses them;
    the scores are those of the all-in-memory run."""
    from neuroalign.data.assembly import make_assembly
    from neuroalign.scorers.cka import score_cka
    from neuroalign.scoring import model_features

    model, st = tiny_model(), stimuli(10)
    red = {"block1": "srp:2048", "block2": "srp:2048", "head": "flatten"}  # 81 920, 81 920 and 200 bytes
    kw = dict(reduction=red, cache_dir=cache, device="cpu")
    # extracted first without a budget: extracting srp:2048 itself needs the projection's ~9 MB
    # (issue 24's budget), so the bounded call reads the cached stores, which is its subject here
    unbounded = model_features(model, st, list(red), budget_bytes=None, **kw)
    bounded = model_features(model, st, list(red), budget_bytes=100_000, **kw)
    lazy = {k for k, a in bounded.items() if isinstance(a.data, dask.array.Array)}
    assert lazy == {"block2"}  # block1 (81 920) and head (200) fit 100 000 bytes; block2 would not
    assert sum(a.nbytes for k, a in bounded.items() if k not in lazy) <= 100_000
    assert not any(isinstance(a.data, dask.array.Array) for a in unbounded.values())
    for k in red:
        np.testing.assert_array_equal(bounded[k].values, unbounded[k].values)
    y = np.random.default_rng(1).standard_normal((10, 6))
    assembly = make_assembly(y, stimulus_id=st.stimulus_ids)
    a, b = (score_cka(f, assembly, n_halves=4, device="cpu") for f in (bounded, unbounded))
    np.testing.assert_array_equal(a["layer_raw"].values, b["layer_raw"].values)
    assert a.attrs["aggregate_raw"] == b.attrs["aggregate_raw"]
