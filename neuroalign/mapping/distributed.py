"""Fit many targets over a dask.distributed cluster, reusing one decomposition of the stimuli.

The stimuli are decomposed once (:func:`neuroalign.mapping.ridge.make_plan`), the plan
is scattered to every worker, and each worker solves a chunk of targets with
:func:`neuroalign.mapping.ridge.solve_targets` — the same function the single-process
fit uses, so the numbers are the same.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..errors import ConfigError
from .ridge import Plan, RidgeCV, _batch_size, solve_targets


def _solve_chunk(plan: Plan, Y: np.ndarray, device, target_batch_size, memory_budget) -> dict:
    from ..device import resolve_device

    return solve_targets(plan.to(resolve_device(device)), Y, target_batch_size=target_batch_size,
                         memory_budget=memory_budget)


@contextlib.contextmanager
def _client(client):
    """Yield a dask Client from None/'local'/'slurm'/address/Client; close what we opened."""
    if not isinstance(client, str):
        yield client
        return
    from dask.distributed import Client

    with dask_cluster(client) as address:
        try:
            c = Client(address)
        except OSError as exc:
            raise ConfigError(f"dask: cannot connect to scheduler at {address!r} ({exc}); check the address.") from exc
        try:
            yield c
        finally:
            c.close()


def fit_distributed(estimator: RidgeCV, X, Y, *, client=None, n_chunks: int | None = None, gram=None) -> RidgeCV:
    """Fit a copy of ``estimator`` (a RidgeCV) with its targets split into chunks over ``client``.

    ``client``: None (in-process loop), ``"local"`` (a 2-process LocalCluster, closed
    afterwards), a scheduler address string, or a ``dask.distributed.Client``.
    ``n_chunks`` defaults to one chunk per target batch of ``estimator``'s own loop (its
    ``target_batch_size`` or ``memory_budget``), which makes the fit identical to
    ``estimator.fit(X, Y)`` bit for bit; a given ``n_chunks`` agrees to float rounding. Returns
    a fitted :class:`DistributedRidgeCV` with ``estimator``'s parameters.
    """
    params = {k: v for k, v in estimator.get_params().items() if k in RidgeCV().get_params()}
    return DistributedRidgeCV(**params, client=client, n_chunks=n_chunks).fit(X, Y, gram)


@contextlib.contextmanager
def dask_cluster(kind: str | None, n_workers: int = 2, **jobqueue_kw):
    """Yield a scheduler address for ``kind``: None (no cluster), ``"local"`` (a LocalCluster),
    ``"slurm"`` (a dask-jobqueue SLURMCluster; queue/account/memory from ``jobqueue_kw`` or
    dask's jobqueue config) or an address, used as is. Clusters we start are closed after."""
    if kind is None or kind == "":
        yield None
        return
    if kind == "local":
        from dask.distributed import LocalCluster

        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
    elif kind == "slurm":
        try:
            import dask
            from dask_jobqueue import SLURMCluster
        except ImportError as exc:
            raise ConfigError("dask 'slurm' needs dask-jobqueue: pip install 'neuroalign[hpc]'.") from exc
        kw = {k: v for k, v in jobqueue_kw.items() if v is not None}
        # cores and memory per job: the arguments, then dask-jobqueue's config (jobqueue.slurm.*,
        # e.g. DASK_JOBQUEUE__SLURM__MEMORY), then 2 cores and 16 GB
        cores = kw.pop("cores", None) or dask.config.get("jobqueue.slurm.cores", None) or 2
        memory = kw.pop("memory", None) or dask.config.get("jobqueue.slurm.memory", None) or "16GB"
        cluster = SLURMCluster(cores=cores, memory=memory, **kw)
        cluster.scale(jobs=n_workers)
        try:  # a scatter finds no worker while the jobs still queue: wait (as long as the queue) for one
            cluster.wait_for_workers(1)
        except BaseException:
            cluster.close()
            raise
    else:
        yield kind
        return
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


class DistributedRidgeCV(RidgeCV):
    """:class:`RidgeCV` whose targets are fitted in chunks on a dask cluster at ``client``
    (a scheduler address, ``"local"``, a Client, or None: chunks in this process); the
    stimuli are decomposed once and the plan scattered to every worker. Same numbers as
    :class:`RidgeCV`."""

    def __init__(self, alphas=RidgeCV().alphas, cv="gcv", alpha_per_target=True, fit_intercept=True,
                 dtype="float32", device="auto", target_batch_size=None, solver="auto",
                 memory_budget=512e6, feature_scale=None, client=None, n_chunks=None):
        super().__init__(alphas=alphas, cv=cv, alpha_per_target=alpha_per_target, fit_intercept=fit_intercept,
                         dtype=dtype, device=device, target_batch_size=target_batch_size, solver=solver,
                         memory_budget=memory_budget, feature_scale=feature_scale)
        self.client = client
        self.n_chunks = n_chunks

    def fit(self, X, Y, gram=None):
        with _client(self.client) as c:
            self._active_client = c
            try:
                return super().fit(X, Y, gram)
            finally:
                del self._active_client

    def _solve(self, plan: Plan, Y: np.ndarray) -> dict:
        c = self._active_client
        Y2 = Y[:, None] if Y.ndim == 1 else Y
        t = Y2.shape[1]
        if self.n_chunks:  # equal chunks, as asked: RidgeCV's numbers up to float rounding
            bs = self.target_batch_size
            bounds = [(ch[0], ch[-1] + 1) for ch in np.array_split(np.arange(t), self.n_chunks) if len(ch)]
        else:  # one task per target batch of RidgeCV's own loop: its numbers bit for bit, however many workers
            bs = _batch_size(plan, t, self.target_batch_size, self.memory_budget)
            bounds = [(lo, min(t, lo + bs)) for lo in range(0, t, bs)]
        args = (self.device, bs, self.memory_budget)
        chunks = [Y2[:, lo:hi] for lo, hi in bounds]  # slices: the layout RidgeCV's batches have
        if c is None:
            results = [_solve_chunk(plan, ch, *args) for ch in chunks]
        else:
            remote_plan = c.scatter(plan.to("cpu"), broadcast=True)
            results = c.gather([c.submit(_solve_chunk, remote_plan, ch, *args, pure=False) for ch in chunks])
        return {k: np.concatenate([r[k] for r in results], axis=-1 if k == "cv_scores" else 0) for k in results[0]}
