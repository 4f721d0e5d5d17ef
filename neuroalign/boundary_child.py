"""The untrusted side of the boundary: runs inside the sandbox, builds the model and writes
activation arrays into the private output folder. Nothing here is believed by the host
(:mod:`neuroalign.boundary` checks every array and computes every verdict itself)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ERROR_MARK = "neuroalign-child-error: "  # a one-line message for the operator (cleaned, never a verdict)


def _describe(exc: BaseException, spec: str) -> str:
    """``"ZeroDivisionError: division by zero (model.py, line 7)"``: the last frame in the submission."""
    import traceback

    code = spec.split(":")[1] if spec.startswith("plugin:") else ""
    where = [f for f in traceback.extract_tb(exc.__traceback__) if code and f.filename == code]
    at = f" ({Path(where[-1].filename).name}, line {where[-1].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


def run(job: dict) -> None:
    """Load, extract, write ``<i>.npy`` per layer and ``model.json`` (what the model declares)."""
    import numpy as np

    from . import sandbox
    from .activations import extract
    from .activations.extract import _probe
    from .device import resolve_device
    from .errors import ModelError, NeuroalignError
    from .models import list_layers, load_model

    out = Path(job["out"])
    model = load_model(job["spec"])
    if model.is_twin:
        raise ModelError("digital twins cannot be run sandboxed yet; score them with --trust-code")
    if model.preprocessing is None:
        raise ModelError("the model declares no preprocessing: return `preprocessing` from build(), a dict of "
                         "input_size, resize, crop, mean, std, interpolation (`neuroalign new-submission DIR` "
                         "writes an example)")
    layers = job["layers"] or list(model.layers)
    bad = [layer for layer in layers if layer not in set(list_layers(model))]
    if bad:
        raise ModelError(f"layers {bad} do not exist in the model; valid layers include {sorted(list_layers(model))[:20]}")
    if job["stimuli"] is None:
        from .datasets.synthetic import synthetic_stimuli

        stim = synthetic_stimuli(n_images=max(2, int(job["n_images"])))
    else:
        from .cli import _load_stimuli

        stim = _load_stimuli(job["stimuli"], job.get("color", "error"))
    try:
        feats = extract(model, stim, layers, reduction=job["reduction"], batch_size=job["batch_size"],
                        device=job["device"], cache_dir=out / "work", progress=False, num_workers=0)
        shapes = _probe(model, stim, layers, resolve_device(job["device"]))
    except NeuroalignError:
        raise
    except Exception as exc:
        raise ModelError(f"running the model on {len(stim)} images raised {_describe(exc, job['spec'])}") from None
    for i, layer in enumerate(layers):
        np.save(out / f"{i}.npy", np.asarray(feats[layer].values, dtype=np.float32))
    left = sandbox.other_processes()
    if left:
        raise ModelError(f"the model started {len(left)} process(es) that outlive it ({'; '.join(left[:3])}); "
                         "a submission may not start background processes")
    (out / "model.json").write_text(json.dumps({
        "layers": layers, "stimulus_ids": list(map(str, stim.stimulus_ids)),
        "shapes": {k: list(v) for k, v in shapes.items()}, "preprocessing": model.preprocessing.to_dict(),
        "weights_sha256": model.weights_sha256}))


def main(argv: list[str]) -> int:
    from .errors import NeuroalignError

    job = json.loads(argv[0])
    try:
        run(job)
        return 0
    except NeuroalignError as exc:
        msg = str(exc)
    except MemoryError:
        msg = "out of memory (raise --memory-gb if the model really needs more)"
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the submission's own code: report it in one line
        msg = f"the model raised {_describe(exc, job.get('spec', ''))}"
    print(ERROR_MARK + " ".join(msg.split()), file=sys.stderr, flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
