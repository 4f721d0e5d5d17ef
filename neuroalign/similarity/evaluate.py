"""One evaluation of model RDMs against subject RDMs, for a batch of resamples at once.

A batch is given by stimulus counts ``C`` ``(S, n)`` (how often each stimulus was drawn;
None = every stimulus once) and subject counts ``Q`` ``(S, K)`` (None = every subject
once). Returns the model evaluations ``(S, A)`` (mean over drawn subjects, copies
counted, as rsatoolbox averages over the resampled RDM set) and the RSA noise ceiling
``(S,)`` lower/upper bounds: each drawn subject against the pooled RDM of the other
subjects (lower, leave-one-out) or of all subjects (upper), pooled as rsatoolbox's
``pool_rdm`` does for the method (mean of ranks for Spearman/Kendall, of z-scored RDMs
for Pearson, of RMS-normalised RDMs for cosine).

Speed: Pearson/cosine reduce to one weighted second-moment matrix per sample. Spearman
ranks each RDM from a sort plan made once (weights never change an RDM's order) and sorts
only the pooled rank RDMs, whose order does change, as packed integer keys over the pairs
a sample keeps; ties are exact, so the numbers are rsatoolbox's.
"""

from __future__ import annotations

import torch

from ._tensors import to_square, triu_pairs
from .compare import WHITENED
from .kernels import RankPlan, _safe_div, weighted_ranks_exact, weighted_tau_a, whitened_counts


RANK_CPU_BATCH_BYTES = 128 * 2 ** 20  # see Evaluator.batch_size


class Evaluator:
    """Holds the (complete-pair) model and data RDMs and their sort plans across batches."""

    def __init__(self, model, data, n: int, method: str):
        self.n, self.method = n, method
        self.valid = torch.isfinite(data).all(0)
        if model is not None:
            self.valid &= torch.isfinite(model).all(0)
        self.x = None if model is None else torch.nan_to_num(model, nan=0.0)[None]
        self.y = torch.nan_to_num(data, nan=0.0)[None]
        self.iu, self.ju = triu_pairs(n, data.device)
        if method in WHITENED:
            if not bool(self.valid.all()):
                from ..errors import DataError
                raise DataError(f"{method}: resampling RDMs that already contain NaN pairs is not supported for the "
                                "whitened methods; use compare_rdms on explicit samples or fill the pairs.")
            self.X = None if model is None else to_square(self.x[0], n)[None]
            self.Y = to_square(self.y[0], n)[None]
        elif method in ("spearman", "kendall"):
            self.plan_x = None if model is None else RankPlan(self.x)
            self.plan_y = RankPlan(self.y)

    def batch_size(self, n_model: int, max_memory_gb: float, stimuli_resampled: bool = True) -> int:
        """Samples per batch: as many as ``max_memory_gb`` holds, and on CPU for Spearman no
        more than ``RANK_CPU_BATCH_BYTES`` of working memory. Its rank passes are
        gathers and cumulative sums over fresh buffers; past a few tens of MB per buffer the
        allocator maps new pages for every batch and the gathers leave the cache, so a
        smaller batch is faster (1000 conditions, 8 subjects, Spearman, 100 samples on 2
        cores: 12.2 s at 1 GB per batch, 6.3-7.2 s at one sample per batch; 300 conditions:
        12.2 s at 1 GB, 5.1-6.0 s at 128 MB). Pearson's batches are GEMMs, and Kendall's
        O(P^2) passes are GEMMs over the batch: both keep the memory bound."""
        per = self.bytes_per_sample(n_model, stimuli_resampled)
        budget = max_memory_gb * 2 ** 30
        if self.method == "spearman" and self.y.device.type == "cpu":
            budget = min(budget, RANK_CPU_BATCH_BYTES)
        return max(1, int(budget // per))

    def bytes_per_sample(self, n_model: int, stimuli_resampled: bool = True) -> int:
        """Peak working memory of one sample (float64/int64 temporaries), for the batch size."""
        k = self.y.shape[1]
        per = self.n * self.n if self.method in WHITENED else self.iu.numel()
        if self.method in ("pearson", "cosine"):
            return 8 * per * 4
        if self.method == "spearman":
            # float32 cumulative weights of every RDM over all pairs, then ~7 arrays over the
            # kept pairs for the K + 1 pooled rankings: about 40% of pairs (1 - 1/e)^2 when
            # stimuli are resampled (0.5 allowed), all without. Measured at 1000 conditions,
            # 8 subjects: 100 / 230 MB per sample against 160 / 290 MB estimated.
            frac = 0.5 if stimuli_resampled else 1.0
            return int(8 * per * ((n_model + k) + 7 * (k + 1) * frac))
        return 8 * per * (n_model + 3 * k + 2) * 6

    # -- condensed-vector methods ---------------------------------------------------------
    def _moments(self, w, Q, ceiling):
        """Pearson/cosine from the weighted second-moment matrix of [models; subjects]:
        the pooled and leave-one-out RDMs are linear in the normalised subject RDMs, so
        their similarities follow from that (S, R, R) matrix without forming them."""
        V = self.y[0] if self.x is None else torch.cat([self.x[0], self.y[0]])
        if self.method == "pearson":
            V = V - V.mean(-1, keepdim=True)  # shift-invariant; keeps the moments well conditioned
        tot = w.sum(-1)[:, None, None]
        R_ = V.shape[0]
        if not hasattr(self, "_Z"):  # products of every RDM pair, once: each batch is one GEMM
            i, j = torch.triu_indices(R_, R_, device=V.device)
            small = i.numel() * V.shape[1] * 8 <= 2 ** 30
            self._Z = ((V[i] * V[j]).T.contiguous(), i, j) if small else None
        if self._Z is not None:
            Z, i, j = self._Z
            g = w @ Z
            G = V.new_empty(w.shape[0], R_, R_)
            G[:, i, j] = g
            G[:, j, i] = g
            G = G / tot
        else:
            G = torch.matmul(V[None] * w[:, None, :], V.T) / tot
        if self.method == "pearson":
            m = (w @ V.T) / tot[:, :, 0]
            G = G - m[:, :, None] * m[:, None, :]
        d = torch.sqrt(torch.clamp(torch.diagonal(G, dim1=-2, dim2=-1), min=0))
        R = _safe_div(G, d[:, :, None] * d[:, None, :])
        A = 0 if self.x is None else self.x.shape[1]
        evals = None if self.x is None else R[:, :A, A:]
        if not ceiling:
            return evals, None
        Rk = R[:, A:, A:]
        K = Rk.shape[-1]
        q = Rk.new_ones(Rk.shape[0], K) if Q is None else Q
        up = (Rk @ q[..., None])[..., 0] / torch.sqrt(torch.einsum("si,sij,sj->s", q, Rk, q))[:, None]
        qk = q[:, None, :] * (1 - torch.eye(K, dtype=q.dtype, device=q.device))  # (S, left out k, j)
        num = torch.einsum("skj,skj->sk", qk, Rk)
        den = torch.sqrt(torch.clamp(torch.einsum("ski,sij,skj->sk", qk, Rk, qk), min=0))
        lo = _safe_div(num, den)
        return evals, (lo, up)

    def _condensed(self, C, Q, ceiling):
        w = self.valid.to(self.y.dtype)[None]
        if C is not None:
            w = w * C[:, self.iu] * C[:, self.ju]
        if self.method in ("pearson", "cosine"):
            return self._moments(w, Q, ceiling)
        if self.method == "spearman":
            return self._spearman(w, Q, ceiling)
        # kendall: tau-a on the subjects' RDMs; the ceiling pools their weighted ranks
        evals = None if self.x is None else weighted_tau_a(self.x, self.y, w)
        if not ceiling:
            return evals, None
        pooled, loo = _pool(self.plan_y.ranks(w), Q)
        up = weighted_tau_a(pooled, self.y, w)[:, 0, :]
        lo = weighted_tau_a(loo, self.y, w, paired=True)
        return evals, (lo, up)

    def _spearman(self, w, Q, ceiling):
        """Spearman = Pearson on weighted ranks. The model and subject RDMs are ranked from
        their one-off sort plans; the ceiling's pooled RDMs (mean subject ranks) change order
        from sample to sample, so they are ranked by an integer sort restricted to the pairs
        the sample keeps (about 40% of them for a stimulus bootstrap)."""
        K = self.y.shape[1]
        J, wc = _compact(w)
        m = J.shape[1]
        mid = ((wc.sum(-1) + 1) / 2)[:, None, None]  # weighted mean of any average-rank vector

        ry = self.plan_y.ranks(w, at=J)  # exact half-integers with integer weights
        if ceiling:  # pooled (all subjects) and leave-one-out rank sums, doubled: exact integers
            S = w.shape[0] if Q is None else Q.shape[0]  # subject-only resamples share one w
            q2 = 2 * (ry.new_ones(S, K) if Q is None else Q)
            keys = ry.new_empty(S, K + 1, m)
            keys[:, :1] = torch.bmm(q2[:, None, :], ry.expand(S, K, m))
            torch.addcmul(keys[:, :1], ry, q2[..., None], value=-1, out=keys[:, 1:])
        ry.sub_(mid)
        yw = ry * wc[:, None, :]
        syy = torch.einsum("skm,skm->sk", yw, ry)
        del ry
        evals = None
        if self.x is not None:
            rx = self.plan_x.ranks(w, at=J).sub_(mid)
            sxx = torch.einsum("sam,sam,sm->sa", rx, rx, wc)
            evals = _safe_div(torch.einsum("sam,skm->sak", rx, yw), torch.sqrt(sxx[:, :, None] * syy[:, None, :]))
            del rx
        if not ceiling:
            return evals, None
        integral = bool((wc == torch.round(wc)).all()) and bool((q2 == torch.round(q2)).all())
        kmax = float((q2.sum(-1) * (wc.sum(-1) + 1)).max()) if integral else float("inf")
        if S != wc.shape[0]:
            wc, yw, syy, mid = wc.expand(S, m), yw.expand(S, K, m), syy.expand(S, K), mid.expand(S, 1, 1)
        r = weighted_ranks_exact(keys, wc, kmax).sub_(mid)
        del keys
        srr = torch.einsum("srm,srm,sm->sr", r, r, wc)
        up = _safe_div(torch.einsum("sm,skm->sk", r[:, 0], yw), torch.sqrt(srr[:, :1] * syy))
        lo = _safe_div(torch.einsum("skm,skm->sk", r[:, 1:], yw), torch.sqrt(srr[:, 1:] * syy))
        return evals, (lo, up)

    # -- whitened methods -----------------------------------------------------------------
    def _whitened(self, C, Q, ceiling):
        centre = self.method == "corr_cov"
        Cc = self.Y.new_ones(1, self.n) if C is None else C
        evals = None if self.X is None else whitened_counts(self.X, self.Y, Cc, centre=centre)
        if not ceiling:
            return evals, None
        S = Cc.shape[0]
        outer = Cc[:, :, None] * Cc[:, None, :]
        npairs = (Cc.sum(-1) ** 2 - (Cc * Cc).sum(-1))[:, None]
        Y = self.Y[0]
        mean = torch.einsum("suv,kuv->sk", outer, Y) / npairs
        msq = torch.einsum("suv,kuv->sk", outer, Y * Y) / npairs
        off = 1 - torch.eye(self.n, dtype=Y.dtype, device=Y.device)
        if centre:
            T = (Y[None] - mean[..., None, None] * off) / torch.sqrt(msq - mean ** 2)[..., None, None]
        else:
            T = Y[None].expand(S, -1, -1, -1) / torch.sqrt(msq)[..., None, None]
        pooled, loo = _pool(T, Q)
        up = whitened_counts(pooled, self.Y, Cc, centre=centre)[:, 0, :]
        lo = whitened_counts(loo, self.Y.expand(S, -1, -1, -1), Cc, centre=centre, paired=True)
        return evals, (lo, up)

    def __call__(self, C=None, Q=None, ceiling=True):
        """-> evaluations ``(S, A)`` or None, and (lower ``(S,)``, upper ``(S,)``) or None."""
        with torch.no_grad():
            run = self._whitened if self.method in WHITENED else self._condensed
            sims, ceil = run(C, Q, ceiling)
            S = (sims.shape[0] if sims is not None else ceil[0].shape[0])
            K = self.y.shape[1]
            Qn = self.y.new_ones(S, K) if Q is None else Q
            evals = None if sims is None else (sims * Qn[:, None, :]).sum(-1) / Qn.sum(-1)[:, None]
            if ceil is None:
                return evals, None
            drawn = (Qn > 0).to(Qn.dtype)
            lo, up = ceil
            lower = (torch.nan_to_num(lo, nan=0.0) * drawn).sum(-1) / drawn.sum(-1)
            lower = torch.where((Qn > 0).sum(-1) > 1, lower, torch.full_like(lower, float("nan")))
            upper = (up * drawn).sum(-1) / drawn.sum(-1)
            return evals, (lower, upper)


def _pool(T, Q):
    """Pooled (all drawn subjects) and leave-one-subject-out pooled RDMs from the per-subject
    transformed RDMs ``T`` ``(S or 1, K, ...)``; copies of a subject count as copies."""
    S = T.shape[0] if Q is None else Q.shape[0]
    K = T.shape[1]
    Qn = T.new_ones(S, K) if Q is None else Q
    shape = (S, K) + (1,) * (T.ndim - 2)
    q = Qn.reshape(shape)
    tot = (T * q).sum(1, keepdim=True)
    qs = Qn.sum(-1).reshape((S, 1) + (1,) * (T.ndim - 2))
    pooled = tot / qs
    rest = qs - q
    loo = (tot - q * T) / torch.where(rest > 0, rest, torch.ones_like(rest))
    return pooled, loo


def _compact(w):
    """Indices ``(S, m)`` of each sample's pairs with positive weight (padded with pair 0
    at weight 0) and their weights ``(S, m)``: dropped pairs cost nothing afterwards."""
    S, P = w.shape
    keep = w > 0
    m_s = keep.sum(-1)
    m = max(1, int(m_s.max()))
    flat = torch.nonzero(keep.view(-1)).squeeze(1)
    rows = flat // P
    dest = flat - rows * P  # column, overwritten below by the destination
    J = torch.zeros(S * m, dtype=torch.long, device=w.device)
    wc = w.new_zeros(S * m)
    pos = torch.arange(flat.numel(), device=w.device) - (torch.cumsum(m_s, 0) - m_s)[rows] + rows * m
    J[pos] = dest
    wc[pos] = w.view(-1)[flat]
    return J.view(S, m), wc.view(S, m)
