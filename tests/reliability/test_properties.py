"""Property-based tests (hypothesis) on the loaders and the data contract: every generated input
either loads into a valid object or raises the package's own error class, never another exception."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neuroalign.data.assembly import (align_on_stimulus_id, average_repetitions, load_assembly, make_assembly,
                                      save_assembly, validate_assembly)
from neuroalign.data.stimuli import StimulusSet, decode_image
from neuroalign.errors import NeuroalignError

SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 60)), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
ids = st.text(min_size=0, max_size=6)  # empty, unicode, whitespace ids included
dtypes = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8, np.bool_, np.complex64, object])


@st.composite
def assemblies(draw):
    n_pres = draw(st.integers(0, 8))
    n_neur = draw(st.integers(0, 4))
    ndim = draw(st.sampled_from([1, 2, 3, 4]))
    shape = [(n_pres,), (n_pres, n_neur), (n_pres, n_neur, draw(st.integers(0, 3))),
             (n_pres, n_neur, 1, 1)][ndim - 1]
    dtype = draw(dtypes)
    if dtype is object:
        values = np.full(shape, draw(st.sampled_from([None, "x", 1.5])), dtype=object)
    else:
        values = draw(hnp.arrays(dtype, shape, elements=None if dtype != np.float64 else
                                 st.floats(allow_nan=True, allow_infinity=True)))
    sids = draw(st.lists(st.one_of(ids, st.integers(-3, 3)), min_size=max(0, n_pres - 1), max_size=n_pres + 1))
    reps = draw(st.none() | st.lists(st.integers(-2, 3), min_size=len(sids), max_size=len(sids)))
    nids = draw(st.none() | st.lists(ids, min_size=n_neur, max_size=n_neur))
    return values, sids, reps, nids


def _check_valid(da):
    validate_assembly(da)
    assert da.dims[:2] == ("presentation", "neuroid")
    assert da.sizes["presentation"] == len(da["stimulus_id"]) > 0 and da.sizes["neuroid"] > 0


@SETTINGS
@given(assemblies())
def test_make_assembly_valid_or_own_error(case):
    values, sids, reps, nids = case
    try:
        da = make_assembly(values, stimulus_id=sids, repetition=reps, neuroid_id=nids)
    except NeuroalignError:
        return
    _check_valid(da)
    try:
        avg = average_repetitions(da)
    except NeuroalignError:
        return
    assert avg.sizes["presentation"] == len(set(map(str, sids)))  # one row per stimulus
    assert sorted(avg["stimulus_id"].values.tolist()) == sorted(set(map(str, sids)))


@SETTINGS
@given(assemblies())
def test_assembly_netcdf_round_trip(tmp_path_factory, case):
    values, sids, reps, nids = case
    try:
        da = make_assembly(values, stimulus_id=sids, repetition=reps, neuroid_id=nids)
    except NeuroalignError:
        return
    path = tmp_path_factory.mktemp("nc") / "a.nc"
    try:
        save_assembly(da, path)
        back = load_assembly(path)
    except NeuroalignError:
        return
    _check_valid(back)
    assert back["stimulus_id"].values.tolist() == da["stimulus_id"].values.tolist()
    assert back["neuroid_id"].values.tolist() == da["neuroid_id"].values.tolist()
    np.testing.assert_array_equal(np.asarray(back.values), np.asarray(da.values))


@SETTINGS
@given(st.lists(ids, min_size=1, max_size=6), st.lists(ids, min_size=1, max_size=6))
def test_align_on_stimulus_id_or_own_error(feat_ids, resp_ids):
    import xarray as xr

    feats = xr.DataArray(np.arange(len(feat_ids) * 2.0).reshape(-1, 2), dims=("presentation", "feature"),
                         coords={"stimulus_id": ("presentation", feat_ids)})
    try:
        resp = make_assembly(np.ones((len(resp_ids), 1)), stimulus_id=resp_ids)
        f, r = align_on_stimulus_id(feats, resp)
    except NeuroalignError:
        return
    assert f["stimulus_id"].values.tolist() == r["stimulus_id"].values.tolist()


@SETTINGS
@given(st.binary(max_size=200) | st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM"]))
def test_decode_image_bytes(data):
    try:
        img = decode_image(data, "x.png", color="convert")
    except NeuroalignError:
        return
    assert img.mode == "RGB"


@st.composite
def zips(draw):
    buf = io.BytesIO()
    names = draw(st.lists(st.text(min_size=1, max_size=8).map(lambda s: s + draw(st.sampled_from(
        [".png", ".jpg", ".txt", "", "/"]))), max_size=4))
    with zipfile.ZipFile(buf, "w") as zf:
        for n in names:
            try:
                zf.writestr(n, draw(st.sampled_from([b"", b"junk", _tiny_png()])))
            except (ValueError, UnicodeEncodeError):
                pass
    data = buf.getvalue()
    if draw(st.booleans()):  # flip a byte somewhere
        i = draw(st.integers(0, max(0, len(data) - 1)))
        data = data[:i] + bytes([(data[i] + 1) % 256]) + data[i + 1:] if data else data
    return data


def _tiny_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


@SETTINGS
@given(zips())
def test_zip_stimulus_set_or_own_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("z") / "s.zip"
    path.write_bytes(data)
    try:
        s = StimulusSet.from_zip(path)
        for sid in s.stimulus_ids:
            assert s.load_image(sid).mode == "RGB"
    except NeuroalignError:
        return
    assert len(s) == len(set(s.stimulus_ids)) > 0
