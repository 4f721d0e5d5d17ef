"""Start-up costs of the workflow (issue 29 §3): a dry run of the default grid and a no-op rerun.

Times, each the median of ``--reps`` runs in a work folder holding a finished default run:

1. ``snakemake -n`` (dry run: Snakefile parse, config check, DAG) — goal < 3 s;
2. ``snakemake --cores 2`` with nothing to do (no-op rerun) — goal < 5 s;
3. one job's start-up: ``neuroalign datasets --check`` (a job that needs no model) and a bare
   ``import torch, torchvision`` for scale;

and says whether the Snakefile's parse imported torch or torchvision (``-X importtime``), and
whether SLURM's client tools are on the PATH (with ``snakemake-executor-plugin-slurm``
installed, every Snakemake start then asks ``scontrol`` for the cluster's configuration).

    python bench/bench_startup.py [--workdir DIR] [--reps 3]

Without ``--workdir`` (or when DIR has no finished run) the default workflow runs once first
(minutes: its time is printed, not part of the headline). Run it alone on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


CPU: dict[str, float] = {}  # CPU seconds (user + system) per timed command, a check on a loaded machine


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def median_time(cmd: list[str], cwd: Path, env: dict, reps: int, label: str = "") -> float:
    times, cpu = [], []
    for _ in range(reps):
        c0 = _children_cpu()
        t, proc = timed(cmd, cwd, env)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        times.append(t)
        cpu.append(_children_cpu() - c0)
    CPU[label] = statistics.median(cpu)
    return statistics.median(times)


def imports_at_parse(work: Path, env: dict) -> list[str]:
    """Heavy modules the dry run imports (from ``python -X importtime -m snakemake -n``)."""
    _, proc = timed([sys.executable, "-X", "importtime", "-m", "snakemake", "-s", str(SNAKEFILE), "-n", "-q"],
                    work, env)
    heavy = ("torch", "torchvision", "timm", "sklearn")
    return sorted({line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                   if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() in heavy})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=None, help="a folder holding a finished default run (else one is made)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dry-only", action="store_true", help="time the dry run only (no workflow run, no no-op rerun)")
    args = ap.parse_args()
    env = {**os.environ, "NEUROALIGN_OFFLINE": os.environ.get("NEUROALIGN_OFFLINE", "1")}
    snakemake = shutil.which("snakemake", path=env.get("PATH")) or sys.exit("snakemake is not on the PATH")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_startup_"))
    work.mkdir(parents=True, exist_ok=True)
    base = [snakemake, "-s", str(SNAKEFILE)]
    dry = base + ["-n", "-q"]
    _, proc = timed(base + ["-n"], work, env)
    if not args.dry_only and "Nothing to be done" not in proc.stdout + proc.stderr:
        print(f"running the default workflow once in {work} (not timed in the headline) ...", flush=True)
        t, proc = timed(base + ["--cores", "2"], work, env)
        if proc.returncode != 0:
            sys.exit(f"the default workflow failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        print(f"  default workflow: {t:.0f} s")
    t_dry = median_time(dry, work, env, args.reps, "dry run")
    t_noop = float("nan") if args.dry_only else median_time(base + ["--cores", "2", "-q"], work, env, args.reps, "no-op rerun")
    na = shutil.which("neuroalign", path=env.get("PATH")) or sys.exit("neuroalign is not on the PATH")
    t_job = median_time([na, "datasets", "--check", "--output", str(work / "bench_datasets.csv")], work, env, args.reps,
                        "datasets job")
    t_torch = median_time([sys.executable, "-c", "import torch, torchvision"], work, env, args.reps,
                          "import torch, torchvision")
    heavy = imports_at_parse(work, env)
    slurm = [t for t in ("sinfo", "scontrol") if shutil.which(t)]
    print(f"  job start-up: `neuroalign datasets --check` {t_job:.2f} s; `import torch, torchvision` alone "
          f"{t_torch:.2f} s")
    print(f"  SLURM client tools on the PATH: {', '.join(slurm) or 'none'}")
    print("  CPU seconds (user + system, median): " + ", ".join(f"{k} {v:.2f}" for k, v in CPU.items()))
    print(f"bench_startup: dry run {t_dry:.2f} s (goal < 3 s), no-op rerun {t_noop:.2f} s (goal < 5 s); "
          f"the Snakefile's parse imports {', '.join(heavy) or 'no torch/torchvision/timm/sklearn'} "
          f"[median of {args.reps}, {work}]")


if __name__ == "__main__":
    main()
