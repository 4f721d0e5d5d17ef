"""Load an exported model plugin in brainscore-vision and write its activations for some images.

Runs in the brainscore-vision environment (never imports neuroalign). The plugin folder
is copied into ``brainscore_vision/models/`` under a temporary name (that is where
brainscore looks for plugins), built with ``brainscore_vision.load_model(identifier)``,
and its ``activations_model`` — brainscore's ``PytorchWrapper`` and extractor — is run on
the image files for one layer. The output is a netCDF file with variable ``data``
(presentation × neuroid) and the image file name per presentation, plus a JSON summary.

    python scripts_brainscore/plugin_check.py --plugin DIR --identifier ID --layer L --out OUT.nc IMAGE [IMAGE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

os.environ.setdefault("BS_INSTALL_DEPENDENCIES", "no")
os.environ.setdefault("RESULTCACHING_DISABLE", "1")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--identifier", required=True)
    parser.add_argument("--layer", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args(argv)

    import numpy as np
    import xarray as xr

    import brainscore_vision

    models_dir = Path(brainscore_vision.__file__).parent / "models"
    name = f"{Path(args.plugin).name}_{uuid.uuid4().hex[:8]}"
    target = models_dir / name
    shutil.copytree(args.plugin, target)
    try:
        model = brainscore_vision.load_model(args.identifier)
        region_layer_map = dict(model.layer_model.region_layer_map)
        activations = model.activations_model(stimuli=[str(p) for p in args.images], layers=[args.layer])
        activations = activations.transpose("presentation", "neuroid")
        paths = [Path(p).name for p in activations["stimulus_path"].values]
        out = xr.DataArray(np.asarray(activations.values), dims=("presentation", "neuroid"),
                           coords={"filename": ("presentation", paths),
                                   "neuroid_num": ("neuroid", np.asarray(activations["neuroid_num"].values))})
        out.to_dataset(name="data").to_netcdf(args.out)
        summary = {"identifier": model.identifier, "plugin_module": f"brainscore_vision.models.{name}",
                   "region_layer_map": region_layer_map, "layer": args.layer,
                   "shape": list(activations.shape), "bibtex": bool(brainscore_vision.load_model_bibtex(args.identifier))}
    finally:
        shutil.rmtree(target, ignore_errors=True)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
