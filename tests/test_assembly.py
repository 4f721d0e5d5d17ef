import numpy as np
import pytest
import xarray as xr

from neuroalign.data.assembly import (align_on_stimulus_id, average_repetitions, load_assembly, make_assembly,
                                      save_assembly, select_stimuli, trials_array)
from neuroalign.errors import DataError


def _toy(rng=np.random.default_rng(0)):
    sids = ["a", "b", "c", "a", "b", "c", "a"]
    return make_assembly(rng.normal(size=(7, 4)), stimulus_id=sids, region="V4",
                         presentation_coords={"family": ["x", "y", "x", "x", "y", "x", "x"]},
                         neuroid_coords={"depth": [1.0, 2.0, 3.0, 4.0]}, attrs={"identifier": "toy"})


def test_repetitions_numbered_and_single_trials_kept():
    da = _toy()
    assert da.sizes == {"presentation": 7, "neuroid": 4}
    assert da.repetition.values.tolist() == [0, 0, 0, 1, 1, 1, 2]


def test_average_repetitions_nan_aware():
    da = _toy()
    da.values[6, 0] = np.nan
    avg = average_repetitions(da)
    assert avg.stimulus_id.values.tolist() == ["a", "b", "c"]
    assert avg.n_repetitions.values.tolist() == [3, 2, 2]
    np.testing.assert_allclose(avg.values[0, 0], np.mean(da.values[[0, 3], 0]))
    np.testing.assert_allclose(avg.values[0, 1], np.mean(da.values[[0, 3, 6], 1]))
    assert avg.family.values.tolist() == ["x", "y", "x"]
    assert avg.depth.values.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_trials_array_shape_and_padding():
    t, ids = trials_array(_toy())
    assert t.shape == (3, 3, 4) and ids.tolist() == ["a", "b", "c"]
    assert np.isnan(t[1, 2]).all() and np.isfinite(t[0, 2]).all()


def test_netcdf_round_trip_preserves_every_coord(tmp_path):
    da = _toy()
    path = save_assembly(da, tmp_path / "toy.nc")
    plain = xr.open_dataarray(path)  # plain xarray reads it
    back = load_assembly(path)
    for name, coord in da.coords.items():
        assert name in back.coords and back[name].dims == coord.dims
        np.testing.assert_array_equal(back[name].values, coord.values)
    np.testing.assert_array_equal(back.values, da.values)
    assert back.attrs["identifier"] == "toy" and plain.sizes == da.sizes
    assert not list(tmp_path.glob(".*tmp*"))


def test_wrong_dims_rejected_with_names():
    bad = xr.DataArray(np.zeros((3, 2)), dims=("stimulus", "unit"))
    with pytest.raises(DataError, match="dims are .*presentation"):
        from neuroalign.data.assembly import validate_assembly
        validate_assembly(bad)


def test_select_and_align_name_missing_ids():
    avg = average_repetitions(_toy())
    with pytest.raises(DataError, match="'zz'"):
        select_stimuli(avg, ["a", "zz"])
    feats = xr.DataArray(np.arange(6.0).reshape(3, 2), dims=("presentation", "feature"),
                         coords={"stimulus_id": ("presentation", ["c", "a", "b"])})
    f, r = align_on_stimulus_id(feats, avg)
    assert f.stimulus_id.values.tolist() == ["a", "b", "c"]
    with pytest.raises(DataError, match="no features"):
        align_on_stimulus_id(feats.isel(presentation=[0, 1]), avg)
