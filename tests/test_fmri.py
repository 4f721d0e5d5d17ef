import nibabel as nib
import numpy as np
import pandas as pd

from neuroalign.data.fmri import load_fmri_betas


def test_nifti_maps_through_masker(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(5, 6, 4, 8)).astype(np.float32)
    mask = np.zeros((5, 6, 4), dtype=np.uint8)
    mask[1:3, 2:4, 1] = 1  # 4 voxels
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "betas.nii.gz")
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "V1.nii.gz")
    table = pd.DataFrame({"volume": range(8), "stimulus_id": ["a", "b", "c", "d"] * 2, "run": [1] * 4 + [2] * 4})
    da = load_fmri_betas(tmp_path / "betas.nii.gz", tmp_path / "V1.nii.gz", table)
    assert da.sizes == {"presentation": 8, "neuroid": 4}
    assert da.repetition.values.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert (da.region == "V1").all()
    i, j, k = da.voxel_i.values[0], da.voxel_j.values[0], da.voxel_k.values[0]
    np.testing.assert_allclose(da.values[:, 0], data[i, j, k, :], rtol=1e-6)
    assert da.x_mm.values[0] == 2.0 * i
    assert da.run.values.tolist() == [1] * 4 + [2] * 4
