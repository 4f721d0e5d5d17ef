"""HPC for real: the workflow and the dask fits on a running SLURM cluster.

`.ci/slurm/start.sh` starts a one-node cluster on this machine (as root; CI runs so). The tiny
grid of tests/test_workflow.py then runs twice, at the same time: locally (`--cores 2`) and
through `snakemake --profile pipelines/profiles/slurm`, where one score job is cancelled with
`scancel` while it computes. Both runs give each job one thread (`--set-threads`), so that the
2-CPU node runs two jobs at once; everything else is the profile as shipped, plus what a cluster
without job accounting needs (`--slurm-status-command squeue`) and a status check every second
instead of every 40. A third run asks a GPU rule for a GPU and checks the sbatch call. Last,
`neuroalign score --dask slurm` fits through dask-jobqueue's SLURMCluster on the same cluster.
A cluster that does not start is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import background
from processes import processes
from shared_service import shared_service
from tiny_grid import BIN, ROOT, TINY, env, snakemake_cmd, submit_package, tiny_workdir

pytestmark = pytest.mark.slow

START = ROOT / ".ci" / "slurm" / "start.sh"
SLURM_CONF = Path("/etc/slurm/slurm.conf")  # where start.sh writes its configuration (stop.sh --purge removes it)
PROFILE = ROOT / "pipelines" / "profiles" / "slurm"
TARGET = "results/results.csv"  # every score of the grid, and the table of them
ONE_THREAD = ["--set-threads", "score=1", "extract=1"]
# what a cluster without accounting needs, and a status check every second (CI)
SLURM_ARGS = ["--profile", str(PROFILE), "--slurm-status-command", "squeue",
              "--slurm-init-seconds-before-status-checks", "1", "--verbose"]
RUN_TIMEOUT = 1500  # a guard against hangs; CI takes a fraction of it
# "Job 3 has been submitted with SLURM jobid 17 (log: .../slurm_logs/rule_score/ref/17.log)."
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: .*/rule_(\w+)/(?:([^/]*)/)?\d+\.log\)")


def _slurm_env(**extra: str) -> dict:
    """The test environment without the profile's variables (the profile as shipped), plus ``extra``."""
    e = {k: v for k, v in env().items() if not k.startswith("NEUROALIGN_SLURM_")}
    return {**e, **extra}


def squeue_history() -> dict[str, dict]:
    """Every job slurmctld still knows (finished ones for MinJobAge): id -> state, comment, ..."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%k|%P|%j|%S"], capture_output=True, text=True,
                         check=True).stdout
    jobs = {}
    for line in out.splitlines():
        jid, state, comment, part, name, start = line.split("|")
        jobs[jid] = {"state": state, "comment": comment, "partition": part, "name": name, "start": start}
    return jobs


def submissions_in(log: str) -> list[tuple[str, str, str, str]]:
    """(snakemake job id, SLURM job id, rule, wildcards) for each sbatch the plugin reported."""
    return SUBMITTED.findall(log)


STOP = ROOT / ".ci" / "slurm" / "stop.sh"
DAEMONS = ("slurmctld", "slurmd", "munged")


def running_daemons() -> dict[str, list[int]]:
    """The pids of every process named slurmctld, slurmd or munged on this machine (from /proc)."""
    found: dict[str, list[int]] = {name: [] for name in DAEMONS}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):  # it ended
                continue
            if comm in found and state != "Z":  # a zombie has exited (its parent has not reaped it yet)
                found[comm].append(int(entry.name))
    return {name: pids for name, pids in found.items() if pids}


def _start_cluster() -> dict:
    """Run start.sh; what the stop needs: whether it started the cluster, the daemons running before.
    The packages may be on their way already: .ci/install-chromium.sh installs them in the
    background (.ci/background.sh); that install is waited for, and its failure is this one."""
    try:
        background.wait("slurm-packages")
    except background.BackgroundFailed as exc:
        pytest.fail(f"the SLURM cluster did not start: {exc}")
    before = running_daemons()
    configured = SLURM_CONF.exists()  # a configuration left behind makes every scontrol wait 9 s for the controller
    proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    state = {"started": "already running" not in proc.stderr, "before": before, "configured": configured,
             "line": (proc.stderr.strip().splitlines() or [""])[-1]}
    if proc.returncode != 0:
        _stop_cluster(state)  # what a failed start left running
        pytest.fail(f"the SLURM cluster did not start: {START.relative_to(ROOT)} exited {proc.returncode}\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return state


def _stop_cluster(state: dict) -> None:
    """stop.sh, when start.sh started the cluster; then no daemon may be left that was not running before.
    A configuration that start.sh wrote on a machine that had none goes too (``--purge``): left behind,
    it makes every later Snakemake start wait 9 s for an absent controller (the SLURM plugin runs
    ``scontrol show config`` on import), where without one scontrol fails at once."""
    if not state["started"]:
        return
    purge = [] if state["configured"] else ["--purge"]
    stop = subprocess.run(["bash", str(STOP), *purge], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30  # a daemon takes a moment to exit after stop.sh signals it
    while (left := {k: v for k, v in running_daemons().items() if k not in state["before"]}) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stop.returncode == 0 and not left, (f"{STOP.relative_to(ROOT)} exited {stop.returncode} and left "
                                               f"{left or 'nothing'} running:\n{stop.stderr[-3000:]}")
    assert not (purge and SLURM_CONF.exists()), f"{STOP.relative_to(ROOT)} --purge left {SLURM_CONF}"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A running one-node cluster, started once per test run whatever the number of pytest-xdist
    workers (under a file lock: two start.sh at once would race for apt's dpkg lock). It stays up
    until the last worker of the run is out (no Snakemake start waits for an absent controller);
    then what start.sh started is stopped (stop.sh) and checked gone, so the test run leaves no
    daemon behind. A cluster that was already up before the tests is left running."""
    with shared_service(tmp_path_factory, "slurm-cluster", _start_cluster, _stop_cluster) as state:
        yield state["line"]


@dataclass
class Runs:
    local: Path
    slurm: Path
    gpu: Path
    local_log: str = ""
    slurm_log: str = ""
    gpu_log: str = ""
    cancelled: dict = field(default_factory=dict)  # SLURM id, rule, wildcards, when
    seconds: float = 0.0


def _start(cmd, log: Path, environ: dict) -> subprocess.Popen:
    with open(log, "w") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=environ, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _cancel_a_score_job(work: Path, log: Path, proc: subprocess.Popen, deadline: float) -> dict:
    """scancel the first score job that is computing: its `neuroalign score` (one per model, all
    of the model's benchmarks) has opened its log and not yet written its last table. Returns what
    was cancelled."""
    while time.time() < deadline and proc.poll() is None:
        history = squeue_history()
        for _, jid, rule, wc in submissions_in(log.read_text()):
            if rule != "score" or history.get(jid, {}).get("state") != "RUNNING":
                continue
            model = wc  # the score rule's one wildcard
            if model not in TINY["models"]:  # ref or ref-seed7
                continue
            rule_log = work / "results" / "logs" / "score" / f"{model}.log"
            last = work / "results" / "scores" / model / f"{TINY['benchmarks'][-1]}.csv"
            if rule_log.exists() and not last.exists():
                time.sleep(1.0)  # well inside the computation
                if last.exists():
                    continue
                subprocess.run(["scancel", jid], capture_output=True)
                for _ in range(100):  # the job is CANCELLED, unless it finished in between (then try another)
                    state = squeue_history().get(jid, {}).get("state")
                    if state not in ("RUNNING", "COMPLETING"):
                        break
                    time.sleep(0.2)
                if state == "CANCELLED":
                    return {"jobid": jid, "rule": rule, "model": model, "at": time.time()}
        time.sleep(0.5)
    raise AssertionError(f"no running score job to cancel (snakemake exit: {proc.poll()})\n{log.read_text()[-3000:]}")


def _kill_stragglers(folder: Path) -> list[int]:
    """SIGKILL every process still working in ``folder`` (its working directory inside it, or the
    folder on its command line); returns their pids. The cluster tracks a job's processes by
    parentage (proctrack/linuxproc), so a process whose parent died first escapes ``scancel``:
    the cancelled job's `snakemake --mode remote` was once seen alive, re-parented to init, after
    the test had ended (it ignores SIGTERM while it waits for its step)."""
    found = [pid for pid, cmd, cwd in processes() if pid != os.getpid() and (
        str(folder) in cmd or cwd is not None and (cwd == str(folder) or cwd.startswith(f"{folder}/")))]
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return found


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory, data_root):
    base = tmp_path_factory.mktemp("hpc")
    submissions = submit_package(base / "pkg")
    r = Runs(local=base / "local", slurm=base / "slurm", gpu=base / "gpu")
    cfg_local = tiny_workdir(r.local, submissions)
    cfg_slurm = tiny_workdir(r.slurm, submissions)
    # device auto: the extract rule asks for a GPU (and neuroalign falls back to the CPU here)
    cfg_gpu = tiny_workdir(r.gpu, submissions, device="auto")
    logs = {k: base / f"{k}.log" for k in ("local", "slurm", "gpu")}
    t0 = time.time()
    procs = {
        "slurm": _start(snakemake_cmd(r.slurm, cfg_slurm, TARGET, *SLURM_ARGS, *ONE_THREAD), logs["slurm"],
                        _slurm_env()),
        "local": _start(snakemake_cmd(r.local, cfg_local, TARGET, "--cores", "2", *ONE_THREAD), logs["local"],
                        env()),
        "gpu": _start(snakemake_cmd(r.gpu, cfg_gpu, "results/activations/ref/kriegeskorte2008_92.json",
                                    *SLURM_ARGS, *ONE_THREAD), logs["gpu"],
                      _slurm_env(NEUROALIGN_SLURM_PARTITION="main", NEUROALIGN_SLURM_GPU_PARTITION="gpu")),
    }
    try:
        r.cancelled = _cancel_a_score_job(r.slurm, logs["slurm"], procs["slurm"], t0 + RUN_TIMEOUT)
        for name, p in procs.items():
            rc = p.wait(timeout=max(1.0, t0 + RUN_TIMEOUT - time.time()))
            assert rc == 0, f"{name} run failed ({rc}):\n{logs[name].read_text()[-6000:]}"
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait()
        ours = {jid for log in logs.values() if log.exists() for _, jid, _, _ in submissions_in(log.read_text())}
        if ours:  # no job of ours outlives the test
            subprocess.run(["scancel", *sorted(ours)], capture_output=True)
        _kill_stragglers(base)
    r.seconds = time.time() - t0
    r.local_log, r.slurm_log, r.gpu_log = (logs[k].read_text() for k in ("local", "slurm", "gpu"))
    return r


def _steps(log: str) -> int:
    m = re.findall(r"(\d+) of (\d+) steps \(100%\) done", log)
    assert m, "the run did not report all its steps done"
    done, total = map(int, m[-1])
    assert done == total
    return total


def test_every_job_of_the_grid_went_through_sbatch(runs):
    total = _steps(runs.slurm_log)
    assert total == _steps(runs.local_log)  # the same jobs as the local run
    assert not re.search(r"^localrule ", runs.slurm_log, re.M)  # nothing ran on the submitting host
    subs = submissions_in(runs.slurm_log)
    assert len({jobid for jobid, *_ in subs}) == total  # every snakemake job was submitted
    history = squeue_history()
    for jobid, slurm_id, rule, wc in subs:
        job = history.get(slurm_id)
        assert job is not None, f"SLURM job {slurm_id} ({rule} {wc}) not in the scheduler's history"
        assert job["comment"] == (f"rule_{rule}_wildcards_{wc}" if wc else f"rule_{rule}")
        assert job["partition"] == "main"  # the cluster's default partition (no NEUROALIGN_SLURM_PARTITION)
        expected = "CANCELLED" if slurm_id == runs.cancelled["jobid"] else "COMPLETED"
        assert job["state"] == expected, (slurm_id, rule, wc, job)
    # device cpu: no extract job asked for a GPU
    calls = re.findall(r"sbatch call: (.*)", runs.slurm_log)
    assert len(calls) == len(subs) and not any("--gpus" in c for c in calls)
    assert (runs.slurm / TARGET).is_file()


def _read_scores(work: Path) -> dict[str, xr.Dataset]:
    return {str(p.relative_to(work)): xr.load_dataset(p, engine="h5netcdf")
            for p in sorted((work / "results" / "scores").rglob("*.nc"))}


def test_slurm_scores_identical_to_the_local_run(runs):
    a = pd.read_csv(runs.local / TARGET).sort_values(["model", "benchmark", "scope", "layer"], ignore_index=True)
    b = pd.read_csv(runs.slurm / TARGET).sort_values(["model", "benchmark", "scope", "layer"], ignore_index=True)
    assert set(a["model"]) == set(TINY["models"]) | {"submitted-net"}
    assert set(a["benchmark"]) == set(TINY["benchmarks"])
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    la, lb = _read_scores(runs.local), _read_scores(runs.slurm)
    assert list(la) == list(lb) and len(la) == len(TINY["benchmarks"]) * 3
    for name, ds in la.items():
        for var in ds.data_vars:
            if np.issubdtype(ds[var].dtype, np.number):
                np.testing.assert_array_equal(ds[var].values, lb[name][var].values, err_msg=f"{name}: {var}")
        for key in ("aggregate_raw", "aggregate_normalized", "aggregate_ceiling", "layer"):
            assert ds.attrs.get(key) == lb[name].attrs.get(key), (name, key)


def test_cancelled_job_is_retried_and_the_run_completes(runs):
    c = runs.cancelled
    history = squeue_history()
    assert history[c["jobid"]]["state"] == "CANCELLED"
    # the plugin saw the cancellation and snakemake submitted the job again
    assert re.search(rf"SLURM-job '{c['jobid']}' failed, SLURM status is: 'CANCELLED'", runs.slurm_log)
    wc = c["model"]
    again = [s for _, s, rule, w in submissions_in(runs.slurm_log) if rule == "score" and w == wc]
    assert again[0] == c["jobid"] and len(again) == 2, again
    assert history[again[1]]["state"] == "COMPLETED"
    # the retry asked for more memory (mem_mb: attempt * 8000)
    call = [line for line in re.findall(r"sbatch call: (.*)", runs.slurm_log)
            if f"rule_score_wildcards_{wc}'" in line or f"rule_score_wildcards_{wc} " in line]
    assert [re.search(r"--mem (\d+)", x).group(1) for x in call] == ["8000", "16000"], call
    # the scores it finally wrote (every benchmark of the model) are the local run's
    for bench in TINY["benchmarks"]:
        rel = Path("results") / "scores" / c["model"] / f"{bench}.nc"
        a = xr.load_dataset(runs.local / rel, engine="h5netcdf")
        b = xr.load_dataset(runs.slurm / rel, engine="h5netcdf")
        assert set(a.data_vars) == set(b.data_vars) and "layer_raw" in a  # every kind has per-layer values
        for var in a.data_vars:  # RSA has no per-neuroid 'raw'
            if np.issubdtype(a[var].dtype, np.number):
                np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=f"{bench}: {var}")
        assert a.attrs["aggregate_raw"] == b.attrs["aggregate_raw"]


def test_gpu_rule_asks_for_a_gpu_in_the_gpu_partition(runs):
    """device auto: extract requests `--gpus=1` (its `gpu` resource) in NEUROALIGN_SLURM_GPU_PARTITION;
    the cluster's pretend GPU lets the job run (neuroalign falls back to the CPU here)."""
    calls = re.findall(r"sbatch call: (.*)", runs.gpu_log)
    subs = submissions_in(runs.gpu_log)
    assert len(calls) == len(subs) == 1 and subs[0][2] == "extract"
    call = calls[0]
    assert " -p gpu" in call and "--gpus=1" in call, call
    job = squeue_history()[subs[0][1]]
    assert job["partition"] == "gpu" and job["state"] == "COMPLETED", job
    tres = subprocess.run(["scontrol", "show", "job", subs[0][1]], capture_output=True, text=True).stdout
    assert re.search(r"TresPerJob=gres:gpu:1", tres), tres
    assert (runs.gpu / "results" / "activations" / "ref" / "kriegeskorte2008_92.json").is_file()


def test_dask_slurm_cluster_gives_the_in_process_numbers(runs, tmp_path):
    """`neuroalign score --dask slurm`: dask-jobqueue's SLURMCluster submits the workers as SLURM
    jobs on the same cluster; the fit's numbers are the in-process fit's."""
    before = set(squeue_history())
    common = ["score", "reference", "--benchmark", "synthetic.encoding", "--name", "ref", "--device", "cpu",
              "--cache-dir", str(runs.local / "results" / "cache")]  # the local run's activations
    inproc = tmp_path / "inproc.nc"
    viadask = tmp_path / "dask.nc"
    workers_log = tmp_path / "workers"
    dask_env = env(DASK_JOBQUEUE__SLURM__INTERFACE="lo",  # scheduler and workers on the loopback
                   DASK_JOBQUEUE__SLURM__CORES="1", DASK_JOBQUEUE__SLURM__MEMORY="3GB",
                   DASK_JOBQUEUE__SLURM__WALLTIME="00:15:00",
                   DASK_JOBQUEUE__SLURM__LOG_DIRECTORY=str(workers_log))
    p1 = subprocess.Popen([str(BIN / "neuroalign"), *common, "--out", str(inproc)], env=env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    p2 = subprocess.run([str(BIN / "neuroalign"), *common, "--dask", "slurm", "--dask-workers", "2",
                         "--out", str(viadask)], env=dask_env, capture_output=True, text=True, timeout=300)
    out1, _ = p1.communicate(timeout=300)
    assert p1.returncode == 0, out1
    assert p2.returncode == 0, p2.stdout + p2.stderr
    a = xr.load_dataset(inproc, engine="h5netcdf")
    b = xr.load_dataset(viadask, engine="h5netcdf")
    assert set(a.data_vars) == set(b.data_vars)
    for var in a.data_vars:
        if np.issubdtype(a[var].dtype, np.number):
            np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
    assert a.attrs["aggregate_raw"] == b.attrs["aggregate_raw"]
    assert a.attrs["aggregate_normalized"] == b.attrs["aggregate_normalized"]
    # the workers were SLURM jobs that ran (and were cancelled when the cluster closed)
    workers = {j: v for j, v in squeue_history().items() if j not in before and v["name"] == "dask-worker"}
    assert len(workers) == 2, workers
    ran = [j for j, v in workers.items() if v["start"] not in ("N/A", "") and v["state"] in ("CANCELLED", "COMPLETED")]
    assert ran, workers
    registered = [p for p in workers_log.glob("*.err") if "Registered to" in p.read_text()]
    assert registered, [p.read_text()[-500:] for p in workers_log.glob("*")]
