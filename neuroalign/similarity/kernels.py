"""Weighted RDM-comparison kernels in torch: many RDMs × many RDMs × many bootstrap samples.

A stimulus-bootstrap sample repeats stimuli; rsatoolbox materialises the resampled RDM
and drops the pairs between copies of one stimulus (NaN). The same numbers follow from
the original condensed vector with a weight per pair, ``w_ij = c_i c_j`` (``c``: how
often each stimulus was drawn), so a sample costs a weighted sum instead of a copy of
the RDM. Excluded pairs (NaN) get weight 0. Shapes: values ``(Sx, A, P)`` with ``Sx``
1 (shared by all samples) or ``S``; weights ``(S, P)``; results ``(S, A, B)`` or, with
``paired=True``, ``(S, A)`` comparing the a-th of x with the a-th of y.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F


class RankPlan:
    """Sort order and tie groups of ``x`` (``(Sx, A, P)``), computed once and reused
    for every set of weights (every bootstrap batch): re-weighting pairs never changes
    their order, so a sample's ranks are a gather and a cumulative sum (O(P), no sort)."""

    def __init__(self, x: torch.Tensor):
        self.perm = argsort_rows(x)
        xs = torch.gather(x, -1, self.perm)
        P = x.shape[-1]
        inv = torch.empty_like(self.perm).scatter_(-1, self.perm, torch.arange(P, device=x.device).expand_as(self.perm))
        same = xs[..., 1:] == xs[..., :-1]
        del xs
        self.ties = bool(same.any())
        # rank = (weight below the tie group + weight up to its end + 1) / 2, read from the
        # padded cumulative weights at the group's start (lo) and one past its end (hi)
        if self.ties:
            pos = torch.arange(P, device=x.device).expand_as(self.perm)
            start = torch.cummax(torch.where(F.pad(~same, (1, 0), value=True), pos, 0), -1).values
            end = torch.flip(torch.cummin(torch.flip(torch.where(F.pad(~same, (0, 1), value=True), pos, P), [-1]),
                                          -1).values, [-1])
            self.lo, self.hi = torch.gather(start, -1, inv), torch.gather(end, -1, inv) + 1
        else:
            self.lo, self.hi = inv, inv + 1

    def ranks(self, w: torch.Tensor, at: torch.Tensor | None = None) -> torch.Tensor:
        """Average (tie-shared) ranks of x among the weighted entries, ``(S, A, P)``, or
        only at pairs ``at`` ``(S, m)`` (``(S, A, m)``).

        An entry with weight ``w`` stands for ``w`` copies; its rank is the number of
        copies below its tie group plus (copies in the group + 1) / 2, as scipy's
        ``rankdata`` gives on the materialised vector.
        """
        S, (Sx, A, P) = w.shape[0], self.perm.shape
        wl = _lean(w)
        cp = wl.new_empty(S, A, P + 1)
        cp[..., 0] = 0
        if Sx == 1:  # one order for every sample: a row gather (faster than an expanded gather)
            ws = take_columns(wl, self.perm.view(-1)).view(S, A, P)
        else:
            ws = torch.gather(wl[:, None, :].expand(S, A, P), -1, self.perm)
        torch.cumsum(ws, -1, out=cp[..., 1:])
        del ws
        if at is None:
            lo, hi, wa = self.lo.expand(S, A, P), self.hi.expand(S, A, P), w[:, None, :]
        else:
            hi, wa = self._at(self.hi, at), torch.gather(w, -1, at)[:, None, :]
            lo = self._at(self.lo, at) if self.ties else None
        if not self.ties:
            return torch.gather(cp, -1, hi).to(w.dtype).sub_((wa - 1) / 2)
        return torch.gather(cp, -1, lo).to(w.dtype).add_(torch.gather(cp, -1, hi)).add_(1).div_(2)

    @staticmethod
    def _at(t: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
        """``t`` ``(Sx, A, P)`` read at pairs ``at`` ``(S, m)``: ``(S, A, m)``."""
        (Sx, A, _), (S, m) = t.shape, at.shape
        if Sx == 1:  # one plan for every sample: a row gather (faster than an expanded gather)
            return take_columns(t[0], at.reshape(-1)).view(A, S, m).transpose(0, 1)
        return torch.gather(t, -1, at[:, None, :].expand(S, A, m))


def take_columns(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``t[:, idx]`` for a 2-D ``t`` and 1-D ``idx``. On CPU numpy's ``take`` (about 3x faster
    than torch's ``index_select`` along columns at RDM sizes); elsewhere ``index_select``."""
    if t.device.type == "cpu":
        return torch.from_numpy(np.take(t.numpy(), idx.numpy(), axis=1))
    return t.index_select(1, idx)


def _lean(w: torch.Tensor, total: float = 2 ** 24) -> torch.Tensor:
    """``w`` as float32 when that is exact for every cumulative sum (integer weights with a
    total below ``total``, as bootstrap counts give): half the memory traffic of the
    full-length rank pass. Otherwise ``w`` unchanged."""
    if w.dtype == torch.float64 and float(w.sum(-1).max()) < total and bool((w == torch.round(w)).all()):
        return w.to(torch.float32)
    return w


def _by_rows(fn, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``fn(rows, out_rows)`` over blocks of rows, one block per torch thread: numpy's sorts
    run on one core and release the GIL, so threads share the rows out."""
    n = min(torch.get_num_threads(), a.size // max(1, a.shape[-1]))
    if n <= 1 or a.size < 2 ** 16 or not (a.flags.c_contiguous and out.flags.c_contiguous):
        fn(a, out)  # (a reshape of a strided array would copy: sort in place on the array itself)
        return out
    rows = a.reshape(-1, a.shape[-1])
    orow = out.reshape(-1, out.shape[-1])
    cuts = np.linspace(0, len(rows), n + 1).astype(int)
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda i: fn(rows[cuts[i]:cuts[i + 1]], orow[cuts[i]:cuts[i + 1]]), range(n)))
    return out


def argsort_rows(x: torch.Tensor) -> torch.Tensor:
    """Ascending order along the last axis. On CPU numpy's vectorised sort is ~3x faster
    than torch's; elsewhere torch's."""
    if x.device.type == "cpu":
        a = np.ascontiguousarray(x.detach().numpy())
        out = np.empty(a.shape, dtype=np.int64)

        def argsort(rows, orows):
            orows[...] = np.argsort(rows, axis=-1)
        return torch.from_numpy(_by_rows(argsort, a, out))
    return torch.sort(x, dim=-1).indices


def sort_rows_(x: torch.Tensor) -> torch.Tensor:
    """Sort int64 rows ascending, in place on CPU (numpy's SIMD sort is ~6x faster than
    torch's there)."""
    if x.device.type == "cpu":
        a = x.numpy()
        _by_rows(lambda rows, _: rows.sort(axis=-1), a, a)
        return x
    return torch.sort(x, dim=-1).values


def weighted_ranks(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Ranks of ``x`` ``(Sx, A, P)`` under weights ``w`` ``(S, P)`` (see :class:`RankPlan`)."""
    return RankPlan(x).ranks(w)


def weighted_ranks_exact(keys: torch.Tensor, w: torch.Tensor, kmax: float | None = None) -> torch.Tensor:
    """Ranks of each row of ``keys`` ``(S, R, m)`` under weights ``w`` ``(S, m)`` when the
    order changes with the weights (pooled rank RDMs of a sample).

    Non-negative integer keys below ``kmax`` (sums of doubled ranks under integer weights;
    checked when ``kmax`` is None) pack with their position into one int64, and a value
    sort (fast) gives order and ties at once; otherwise a float argsort. Ties are exact
    equality, as scipy's ``rankdata``.
    """
    S, R, m = keys.shape
    b = max(1, int(m - 1).bit_length())
    if kmax is None and keys.numel():
        integral = float(keys.min()) >= 0 and bool((keys == torch.round(keys)).all())
        kmax = float(keys.max()) if integral else float("inf")
    if kmax is not None and kmax < 2 ** (62 - b):
        packed = sort_rows_(keys.to(torch.long).bitwise_left_shift_(b).bitwise_or_(torch.arange(m, device=keys.device)))
        perm = packed & ((1 << b) - 1)
        ks = packed.bitwise_right_shift_(b)
    else:
        perm = argsort_rows(keys)
        ks = torch.gather(keys, -1, perm)
    same = torch.zeros(ks.shape, dtype=torch.bool, device=ks.device)
    torch.eq(ks[..., 1:], ks[..., :-1], out=same[..., :-1])
    del ks
    # float32 where every rank is exact in it: half-integers below 2**22, and tie sums below 2**23
    wl = _lean(w, total=2 ** 22)
    ws = wl.gather(1, perm.view(S, R * m)).view(S, R, m)
    cp = ws.new_empty(S, R, m + 1)
    cp[..., 0] = 0
    torch.cumsum(ws, -1, out=cp[..., 1:])
    r = torch.add(cp[..., 1:], ws, alpha=-0.5, out=ws).add_(0.5)  # no ties: weight up to it - (its weight - 1) / 2
    _tie_average_(r, cp, same)
    del cp, same
    return torch.empty_like(r).scatter_(-1, perm, r).to(w.dtype)


def _tie_average_(r, cp, same):
    """Give every tie group the average rank of its copies, in place: (weight below the
    group + weight up to its end + 1) / 2. ``same[..., i]``: entries i and i + 1 tie (the
    last column False, so no run crosses rows). Touches only tied entries."""
    m = r.shape[-1]
    e = torch.nonzero(same.view(-1)).squeeze(1)  # flat positions tied with their successor
    if not e.numel():
        return
    brk = e[1:] != e[:-1] + 1                    # a new group starts after a break
    one = brk.new_ones(1)
    gs = e[torch.nonzero(torch.cat([one, brk])).squeeze(1)]      # first position of each group
    ge = e[torch.nonzero(torch.cat([brk, one])).squeeze(1)] + 1  # last position of each group
    cpf = cp.view(-1)  # m + 1 columns per row: position p sits at p + p // m (+ 1 past it)
    val = (cpf[gs + gs // m] + cpf[ge + ge // m + 1] + 1) / 2
    gid = torch.cumsum(torch.cat([brk.new_zeros(1), brk]), 0)
    rf = r.view(-1)
    rf.index_copy_(0, e, val[gid])
    rf.index_copy_(0, ge, val)


def _safe_div(num, den):
    return torch.where(den > 0, num / torch.where(den > 0, den, 1), torch.zeros_like(num))


def weighted_cosine(x, y, w, *, centre: bool, paired: bool = False):
    """Weighted Pearson correlation (``centre=True``) or cosine; 0 where a norm is 0
    (rsatoolbox's convention for constant RDMs)."""
    wt = w[:, None, :]
    if centre:
        tot = w.sum(-1)[:, None, None]
        x = x - (x * wt).sum(-1, keepdim=True) / tot
        y = y - (y * wt).sum(-1, keepdim=True) / tot
    xw = x * wt
    sxx = (xw * x).sum(-1)
    syy = (y * y * wt).sum(-1)
    if paired:
        return _safe_div((xw * y).sum(-1), torch.sqrt(sxx * syy))
    sxy = torch.matmul(xw, y.transpose(-1, -2))
    return _safe_div(sxy, torch.sqrt(sxx[:, :, None] * syy[:, None, :]))


def _tau_numerator(xv, yv, W, block=512):
    """sum_{p<q} W_p W_q sign(x_p - x_q) sign(y_p - y_q) for each row of ``W`` (O(P^2))."""
    num = W.new_zeros(W.shape[0])
    P = xv.shape[0]
    for s in range(0, P, block):
        k = torch.sign(xv[s:s + block, None] - xv[None, :]) * torch.sign(yv[s:s + block, None] - yv[None, :])
        num += (W[:, s:s + block].T * (k @ W.T)).sum(0)
    return num / 2


def weighted_tau_a(x, y, w, *, paired: bool = False):
    """Kendall's tau-a on the weighted (materialised) vectors: (concordant - discordant)
    over N(N-1)/2 with N the number of entries; cost O(P^2) per RDM pair."""
    S = w.shape[0]
    A, B = x.shape[1], y.shape[1]
    N = w.sum(-1)
    tot = N * (N - 1) / 2
    out = w.new_zeros((S, A) if paired else (S, A, B))
    pairs = [(a, a) for a in range(A)] if paired else [(a, b) for a in range(A) for b in range(B)]
    shared = x.shape[0] == 1 and y.shape[0] == 1
    for a, b in pairs:
        if shared:
            num = _tau_numerator(x[0, a], y[0, b], w)
        else:
            num = torch.stack([_tau_numerator(x[min(s, x.shape[0] - 1), a], y[min(s, y.shape[0] - 1), b],
                                              w[s:s + 1])[0] for s in range(S)])
        val = torch.clamp(_safe_div(num, tot), -1.0, 1.0)
        if paired:
            out[:, a] = val
        else:
            out[:, a, b] = val
    return out


def whitened_counts(X, Y, C, *, centre: bool, paired: bool = False):
    """rsatoolbox's ``cosine_cov`` (``centre=False``) / ``corr_cov`` (``centre=True``) without
    a noise covariance, for resampled stimuli.

    ``X`` ``(Sx, A, n, n)``, ``Y`` ``(Sy, B, n, n)``: finite RDMs with zero diagonals; ``C``
    ``(S, n)``: how often each stimulus is in the sample (all ones: no resampling). The
    resampled RDM's pairs between copies are excluded; rsatoolbox then removes row and
    column effects by a weighted least-squares fit over the remaining pairs. With copies the
    fit's normal matrix is diagonal plus rank one per sample, so it is solved in closed form
    on the unique stimuli (Sherman-Morrison), and the whitened inner products are written
    with counts instead of copies. Exactly rsatoolbox's numbers; no crash with n >= 100.
    """
    N = C.sum(-1)
    npairs = N * N - (C * C).sum(-1)  # ordered valid pairs in the sample

    def parts(Z):
        Zc = torch.einsum("auv,sv->sau", Z[0], C) if Z.shape[0] == 1 else torch.einsum("sauv,sv->sau", Z, C)
        q = (Zc * C[:, None, :]).sum(-1)
        mu = q / npairs[:, None] if centre else torch.zeros_like(q)
        r = Zc - mu[..., None] * (N[:, None, None] - C[:, None, :])
        D = torch.where(C > 0, N[:, None] / 2 - C + 1, torch.ones_like(C))
        cd = C / D
        t = (cd[:, None, :] * r).sum(-1) / (1 + 0.5 * cd.sum(-1))[:, None]
        m = (r - 0.5 * t[..., None]) / D[:, None, :]
        return q, mu, r, m, D

    def quad(Z1, Z2, pair):
        """c^T (Z1_a o Z2_b) c for all (a, b), or a == b with ``pair``."""
        outer = C[:, :, None] * C[:, None, :]
        S = C.shape[0]
        z1 = Z1.expand(S, *Z1.shape[1:]) if Z1.shape[0] == 1 else Z1
        z2 = Z2.expand(S, *Z2.shape[1:]) if Z2.shape[0] == 1 else Z2
        if pair:
            return torch.einsum("suv,sauv,sauv->sa", outer, z1, z2)
        rows = [torch.einsum("suv,suv,sbuv->sb", outer, z1[:, a], z2) for a in range(z1.shape[1])]
        return torch.stack(rows, 1)

    def inner(p1, p2, Z1, Z2, pair):
        q1, mu1, r1, m1, D = p1
        q2, mu2, r2, m2, _ = p2
        eq = "sau,sau->sa" if pair else "sau,sbu->sab"
        ex = (lambda t: t) if pair else (lambda t: t[:, :, None])
        ey = (lambda t: t) if pair else (lambda t: t[:, None, :])
        t1 = quad(Z1, Z2, pair) - ey(mu2) * ex(q1) - ex(mu1) * ey(q2) + ex(mu1) * ey(mu2) * (
            npairs[:, None] if pair else npairs[:, None, None])
        cm1 = C[:, None, :] * m1
        cm2 = C[:, None, :] * m2
        t2 = -torch.einsum(eq, r1, cm2) - torch.einsum(eq, cm1, r2)
        t34 = torch.einsum(eq, cm1 * D[:, None, :], m2) + 0.5 * ex(cm1.sum(-1)) * ey(cm2.sum(-1))
        return t1 + t2 + t34

    px, py = parts(X), parts(Y)
    ip = inner(px, py, X, Y, paired)
    nx = inner(px, px, X, X, True)
    ny = inner(py, py, Y, Y, True)
    den = torch.sqrt(torch.clamp(nx, min=0) * torch.clamp(ny, min=0)) if paired else \
        torch.sqrt(torch.clamp(nx, min=0)[:, :, None] * torch.clamp(ny, min=0)[:, None, :])
    return _safe_div(ip, den)


def whitened_masked(X, Y, valid, *, centre: bool):
    """``cosine_cov``/``corr_cov`` over the pairs marked ``valid`` (square bool ``(n, n)``,
    symmetric, false diagonal) for unresampled ``X`` ``(A, n, n)``, ``Y`` ``(B, n, n)``.

    The row/column-effect fit is rsatoolbox's restricted to the valid pairs; its normal
    matrix ``(deg + adjacency)/2 + I`` is never singular, so this always returns numbers.
    """
    V = valid.to(X.dtype)
    n = V.shape[0]

    def whiten(Z):
        Z = Z * V
        if centre:
            mu = Z.sum((-1, -2)) / V.sum()
            Z = (Z - mu[:, None, None]) * V
        r = Z.sum(-1)
        M = 0.5 * (torch.diag(V.sum(-1)) + V) + torch.eye(n, dtype=X.dtype, device=X.device)
        m = torch.linalg.solve(M, r.T).T
        Yz = (Z - 0.5 * (m[:, :, None] + m[:, None, :])) * V
        return Yz.reshape(Z.shape[0], -1), m

    yx, mx = whiten(X)
    yy, my = whiten(Y)
    ip = yx @ yy.T + mx @ my.T
    nx = (yx * yx).sum(-1) + (mx * mx).sum(-1)
    ny = (yy * yy).sum(-1) + (my * my).sum(-1)
    return _safe_div(ip, torch.sqrt(nx[:, None] * ny[None, :]))
