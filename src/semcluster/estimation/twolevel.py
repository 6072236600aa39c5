"""Two-level SEM by maximum likelihood, as lavaan's ``level: 1`` / ``level: 2`` blocks with
``cluster =`` (lavaan 0.6.14, ``lav_mvnorm_cluster.R``).

The model
---------
Firm i of cluster j answers y_ij = μ_y + u_j + e_ij: a within part e_ij ~ N(0, Σ_W(θ)) and a
random intercept u_j ~ N(0, Σ_B(θ)), independent. ``level: 1`` models Σ_W over the level-1
variables (those named in the within block: the variables at both levels and the
*within-only* ones, whose Σ_B rows are 0); ``level: 2`` models Σ_B and the means over the
level-2 variables (those at both levels and the *between-only* cluster-level variables z_j,
constant within a cluster). The intercepts of the variables at both levels are means of the
between block (within intercepts 0), as lavaan's.

The likelihood (lavaan's ``lav_mvnorm_cluster_loglik_samplestats_2l``)
---------------------------------------------------------------------
With n_j the size of cluster j, ȳ_j its means and W_j = Σ_i (y_ij − ȳ_j)(y_ij − ȳ_j)ᵀ, the
cluster's rows are the within contrasts (n_j − 1 draws of N(0, Σ_W)) and the vector
v_j = (z_j, √n_j ȳ_j), normal with mean m_j = (μ_z, √n_j μ_y) and covariance

    V_j = [[Σ_zz, √n_j Σ_zy], [√n_j Σ_yz, n_j Σ_B,yy + Σ_W]],

so that

    −2 log L = Σ_j [log|V_j| + (v_j − m_j)ᵀ V_j⁻¹ (v_j − m_j)]
               + (N − J) log|Σ_W| + tr(Σ_W⁻¹ Σ_j W_j) + (N p_y + J p_z) log 2π.

Clusters of one size share V_j: the sum runs over the distinct sizes with the scatter and the
mean of their v_j (lavaan's ``cov.d``, ``mean.d``).

Derivatives
-----------
The gradient is analytic: with M_n the scatter of v about m for size n and c_n its count,
∂(−2 log L)/∂V_n = c_n V_n⁻¹ − V_n⁻¹ M_n V_n⁻¹ and ∂/∂m_n = −2 c_n V_n⁻¹ (v̄_n − m_n); the
blocks of V_n are gathered into ∂/∂Σ_W, ∂/∂Σ_B, ∂/∂μ_W, ∂/∂μ_B and chained through each
level's model core (:meth:`semcluster.model.core.GroupCore.moment_gradient`). The standard
errors come from the observed information, lavaan's default for two-level ML: the Hessian of
−log L by central differences of the analytic gradient (lavaan also differentiates its
analytic gradient numerically, ``lav_model_hessian``).

The unrestricted (h1) model — Σ_W, Σ_B, μ free — is fitted too, by the same likelihood, for
χ², and the baseline model (variances only, at both levels; covariates' blocks held) for CFI
and TLI. SRMR within and between compare the correlations of the h1 and the model-implied
matrices of each level (``lav_fit_srmr_twolevel``); ``srmr`` is their sum.

Exogenous observed covariates are fixed.x as in lavaan: a within-only covariate's
(co)variances and means are held at the sample values of all rows (divisor N), a between-only
covariate's at those of the clusters (divisor J).

MLR (lavaan's ``estimator = "MLR"`` with levels): Huber-White SEs A⁻¹BA⁻¹, A the observed
information, B the cross-product of the cluster score rows (:func:`cluster_gradients`, lavaan's
``lav_mvnorm_cluster_scores_2l``); the Yuan-Bentler (Mplus) scaling factor
c = [tr(A₁⁻¹B₁) − tr(A₀⁻¹B₀)]/df (``lav_test_yuan_bentler_mplus_trace``), the h1 matrices at
the unrestricted estimates (lavaan 0.6.14 takes them there, whatever ``h1.information`` says:
at the structured moments the h1 trace is 30.58 on Demo.twolevel, lavaan reports 30.41, the
unrestricted value) with the fixed.x covariates' own moments left out. With exogenous
covariates MLR is refused: on Demo.twolevel the h0 trace is 5e-5 and the robust SEs 2e-4 from
lavaan's, a difference not yet explained.

Not built (refused with a one-line message): missing answers, groups with levels, intercepts
or ``:=`` in the model, a covariate at both levels, random slopes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import DataError, EstimationError, OptionError
from ..numerics import n_moments

__all__ = ["fit", "check_supported", "TwoLevelModel", "ClusterData", "LOG2PI"]

LOG2PI = float(np.log(2 * np.pi))


def check_supported(estimator: str, *, missing: str | None = None, group=None,
                    ordered=None, cov=None) -> None:
    """Refuse, in one line, what two-level fitting does not do (lavaan 0.6.14 does not do
    WLSMV/GLS/ULS for two levels; semcluster has not built MLR, missing answers, groups)."""
    name = getattr(estimator, "name", estimator)
    if name in ("WLSMV", "GLS"):
        raise OptionError(f"estimator {name} is not available for two-level models (lavaan "
                          f"0.6.14 fits them by ML only); use --estimator ML")
    if name not in ("ML", "MLR"):
        raise OptionError(f"estimator {name} for two-level models is not built yet; use "
                          f"--estimator ML or MLR")
    if ordered:
        raise OptionError("ordered items are not available in two-level models (lavaan "
                          "0.6.14 fits them as continuous by ML only)")
    if group is not None:
        raise OptionError("two-level models with groups (group= with 'level:' blocks) are "
                          "not built yet")
    if cov is not None:
        raise OptionError("a two-level model needs raw data with the cluster column, not a "
                          "covariance matrix")
    if missing not in (None, "listwise", "auto"):
        raise OptionError(f"missing='{missing}' in two-level models is not built yet; use "
                          f"missing='listwise' (complete rows)")


class ClusterData:
    """The statistics the two-level likelihood reads: per distinct cluster size the count,
    mean and scatter of v_j = (z_j, √n_j ȳ_j), and the pooled within scatter Σ_j W_j.

    ``y`` are the level-1 variables (level-1 order), ``z`` the between-only ones (level-2
    order)."""

    def __init__(self, X: pd.DataFrame, codes: np.ndarray, y: list, z: list):
        self.y, self.z = list(y), list(z)
        Y = X[self.y].to_numpy(dtype=float)
        Z = X[self.z].to_numpy(dtype=float) if self.z else np.zeros((len(X), 0))
        J = int(codes.max()) + 1
        n = np.bincount(codes, minlength=J).astype(float)
        self.N, self.J = len(X), J
        self.cluster_sizes = n
        ybar = np.zeros((J, Y.shape[1]))
        np.add.at(ybar, codes, Y)
        ybar /= n[:, None]
        D = Y - ybar[codes]
        self.within_scatter = D.T @ D
        zj = np.zeros((J, Z.shape[1]))
        zj[codes] = Z
        if self.z and not np.allclose(Z, zj[codes], rtol=0, atol=1e-10 * max(1.0, np.abs(Z).max())):
            bad = [v for k, v in enumerate(self.z) if not np.allclose(Z[:, k], zj[codes, k])]
            raise DataError(f"between-only variable(s) {', '.join(bad)} vary within clusters; "
                            f"a level-2 variable has one value per cluster (or name it at "
                            f"level 1 too)")
        self.ybar, self.zj = ybar, zj
        self._rows = (codes, D)
        V = np.hstack([zj, np.sqrt(n)[:, None] * ybar])
        self.v = V
        self.sizes = np.unique(n)
        self.counts, self.means, self.scatters = [], [], []
        for s in self.sizes:
            Vs = V[n == s]
            mu = Vs.mean(axis=0)
            self.counts.append(len(Vs))
            self.means.append(mu)
            self.scatters.append((Vs - mu).T @ (Vs - mu))
        self.counts = np.array(self.counts, dtype=float)
        self.mean_stack = np.array(self.means).reshape(len(self.sizes), -1)
        self.scatter_stack = np.array(self.scatters).reshape(len(self.sizes), V.shape[1],
                                                             V.shape[1])
        self.constant = (self.N * len(self.y) + J * len(self.z)) * LOG2PI

    @property
    def cluster_scatters(self) -> np.ndarray:
        """W_j for every cluster (J × p_y × p_y), for the cluster scores of MLR."""
        if not hasattr(self, "_W"):
            codes, D = self._rows
            W = np.zeros((self.J, D.shape[1], D.shape[1]))
            np.add.at(W, codes, D[:, :, None] * D[:, None, :])
            self._W = W
        return self._W


class _Layout:
    """Where each level's variables sit in the (z, y) arrangement of the likelihood."""

    def __init__(self, level1: list, level2: list):
        self.l1, self.l2 = list(level1), list(level2)
        s1, s2 = set(self.l1), set(self.l2)
        self.y = self.l1
        self.z = [v for v in self.l2 if v not in s1]
        self.both = [v for v in self.l2 if v in s1]
        self.within_only = [v for v in self.l1 if v not in s2]
        self.b1 = np.array([self.l1.index(v) for v in self.both], dtype=int)   # in y
        self.b2 = np.array([self.l2.index(v) for v in self.both], dtype=int)   # in level 2
        self.z2 = np.array([self.l2.index(v) for v in self.z], dtype=int)
        self.py, self.pz = len(self.y), len(self.z)

    def two_level(self, Sw, Sb, mw, mb):
        """Σ_B,yy, Σ_zz, Σ_yz, μ_y, μ_z from the level matrices (``implied22l``)."""
        py = self.py
        Byy = np.zeros((py, py))
        Byy[np.ix_(self.b1, self.b1)] = Sb[np.ix_(self.b2, self.b2)]
        Bzz = Sb[np.ix_(self.z2, self.z2)]
        Byz = np.zeros((py, self.pz))
        Byz[self.b1] = Sb[np.ix_(self.b2, self.z2)]
        mu_y = mw.copy()
        mu_y[self.b1] = mu_y[self.b1] + mb[self.b2]
        return Byy, Bzz, Byz, mu_y, mb[self.z2]


def minus2_loglik(lay: _Layout, data: ClusterData, Sw, Sb, mw, mb, gradient: bool = True):
    """−2 log L and (optionally) its derivatives with respect to Σ_W, Σ_B, μ_W, μ_B
    (dF = tr(G_W dΣ_W) + tr(G_B dΣ_B) + g_Wᵀ dμ_W + g_Bᵀ dμ_B); (inf, None) where a V_n or Σ_W
    is not positive definite."""
    Byy, Bzz, Byz, mu_y, mu_z = lay.two_level(Sw, Sb, mw, mb)
    pz, py = lay.pz, lay.py
    try:
        Lw = np.linalg.cholesky(Sw)
    except np.linalg.LinAlgError:
        return np.inf, None
    Lwi = np.linalg.inv(Lw)
    Swi = Lwi.T @ Lwi
    f = (data.N - data.J) * 2.0 * np.log(np.diag(Lw)).sum() + float(np.sum(Swi * data.within_scatter))
    # every cluster size at once: V_n = [[Σ_zz, √n Σ_zy], [√n Σ_yz, n Σ_B,yy + Σ_W]]
    sz = data.sizes
    r = np.sqrt(sz)
    K, q = len(sz), pz + py
    V = np.empty((K, q, q))
    V[:, :pz, :pz] = Bzz
    V[:, pz:, :pz] = r[:, None, None] * Byz
    V[:, :pz, pz:] = r[:, None, None] * Byz.T
    V[:, pz:, pz:] = sz[:, None, None] * Byy + Sw
    try:
        L = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        return np.inf, None
    Li = np.linalg.inv(L)
    Vi = Li.transpose(0, 2, 1) @ Li
    c = data.counts
    d = data.mean_stack - np.concatenate([np.broadcast_to(mu_z, (K, pz)),
                                          r[:, None] * mu_y], axis=1)
    M = data.scatter_stack + c[:, None, None] * d[:, :, None] * d[:, None, :]
    f += float(c @ (2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1))
               + np.sum(Vi * M))
    if gradient:
        G = c[:, None, None] * Vi - Vi @ M @ Vi
        Gyy = G[:, pz:, pz:].sum(axis=0)
        Gyy_b = np.tensordot(sz, G[:, pz:, pz:], axes=1)
        Gzz = G[:, :pz, :pz].sum(axis=0)
        Gyz_b = np.tensordot(r, G[:, pz:, :pz], axes=1)
        h = -2.0 * c[:, None] * np.einsum("kij,kj->ki", Vi, d)
        gz = h[:, :pz].sum(axis=0)
        gy = r @ h[:, pz:]
    f += data.constant
    if not gradient:
        return float(f), None
    Gw = Gyy + (data.N - data.J) * Swi - Swi @ data.within_scatter @ Swi
    p2 = len(lay.l2)
    Gb = np.zeros((p2, p2))
    Gb[np.ix_(lay.b2, lay.b2)] = Gyy_b[np.ix_(lay.b1, lay.b1)]
    Gb[np.ix_(lay.z2, lay.z2)] = Gzz
    Gb[np.ix_(lay.b2, lay.z2)] = Gyz_b[lay.b1]
    Gb[np.ix_(lay.z2, lay.b2)] = Gyz_b[lay.b1].T
    gb = np.zeros(p2)
    gb[lay.b2] = gy[lay.b1]
    gb[lay.z2] = gz
    return float(f), (Gw, Gb, gy, gb)


def cluster_gradients(lay: _Layout, data: ClusterData, Sw, Sb, mw, mb):
    """Each cluster's derivatives of its −2 log L term (the rows of the first-order
    information): arrays G_W (J, p_y, p_y), G_B (J, p₂, p₂), g_W (J, p_y), g_B (J, p₂) in the
    sense of :func:`minus2_loglik`."""
    Byy, Bzz, Byz, mu_y, mu_z = lay.two_level(Sw, Sb, mw, mb)
    pz, py, J = lay.pz, lay.py, data.J
    Swi = np.linalg.inv(Sw)
    n = data.cluster_sizes
    Gw = (n - 1)[:, None, None] * Swi - Swi @ data.cluster_scatters @ Swi
    p2 = len(lay.l2)
    Gb = np.zeros((J, p2, p2))
    gw = np.zeros((J, py))
    gb = np.zeros((J, p2))
    for s in data.sizes:
        idx = np.flatnonzero(n == s)
        r = np.sqrt(s)
        V = np.block([[Bzz, r * Byz.T], [r * Byz, s * Byy + Sw]])
        Vi = np.linalg.inv(V)
        d = data.v[idx] - np.concatenate([mu_z, r * mu_y])
        Vd = d @ Vi                                      # rows: (V⁻¹ d_j)ᵀ
        G = Vi[None] - Vd[:, :, None] * Vd[:, None, :]
        h = -2.0 * Vd
        Gw[idx] += G[:, pz:, pz:]
        Gyy_b = s * G[:, pz:, pz:]
        Gb[np.ix_(idx, lay.b2, lay.b2)] = Gyy_b[np.ix_(np.arange(len(idx)), lay.b1, lay.b1)]
        Gb[np.ix_(idx, lay.z2, lay.z2)] = G[:, :pz, :pz]
        Gyz = r * G[:, pz:, :pz][:, lay.b1, :]
        Gb[np.ix_(idx, lay.b2, lay.z2)] = Gyz
        Gb[np.ix_(idx, lay.z2, lay.b2)] = Gyz.transpose(0, 2, 1)
        gy = r * h[:, pz:]
        gw[idx] = gy
        gb[np.ix_(idx, lay.b2)] = gy[:, lay.b1]
        gb[np.ix_(idx, lay.z2)] = h[:, :pz]
    return Gw, Gb, gw, gb


class TwoLevelModel:
    """A two-level model on one parameter vector: one :class:`~semcluster.model.core.GroupCore`
    per level (level 1: Σ_W, μ_W; level 2: Σ_B, μ_B) whose cells carry global parameter
    numbers: the structural parameters of the parameter table (``free``), then the free
    intercepts (level 2: every variable but fixed covariates; level 1: within-only outcomes)."""

    def __init__(self, spec, data: ClusterData, X: pd.DataFrame, codes: np.ndarray):
        from ..model.core import RAM, GroupCore

        self.spec = spec
        s1, s2 = spec.levels
        self.layout = lay = _Layout(s1.observed, s2.observed)
        self.data = data
        pt = spec.partable
        q_struct = int(pt["free"].max() or 0)
        fixed_x = {1: list(s1.fixed_x), 2: list(s2.fixed_x)}
        both = set(lay.both)
        shared = [v for v in fixed_x[1] + fixed_x[2] if v in both]
        if shared:
            raise OptionError(f"covariate(s) {', '.join(dict.fromkeys(shared))} at both levels "
                              f"(a fixed.x covariate in a two-level model) are not built yet")
        # fixed.x values: within-only covariates from all rows (divisor N), between-only
        # ones from the clusters (divisor J), as lavaan's sample statistics
        Xw = X[fixed_x[1]].to_numpy(dtype=float) if fixed_x[1] else np.zeros((len(X), 0))
        Zb = data.zj[:, [lay.z.index(v) for v in fixed_x[2]]]

        def moments(A):
            m = A.mean(axis=0) if len(A) else np.zeros(A.shape[1])
            D = A - m
            return D.T @ D / max(len(A), 1), m
        fx_stats = {1: moments(Xw), 2: moments(Zb)}
        self.fixed_x = fixed_x
        self.fx_stats = fx_stats
        self.rows = []          # (level, lhs, op, rhs, label, k or -1, fixed value)
        self.cores, self.rams = [], []
        next_k = q_struct
        for level, lspec in ((1, s1), (2, s2)):
            ram = RAM(lspec)
            lrows = pt[(pt.level == level) & pt.op.isin(["=~", "~", "~~"])].reset_index(drop=True)
            kind, ii, jj, kk, fx = [], [], [], [], []
            for r, row in enumerate(lrows.itertuples(index=False)):
                kind.append(ram.kind[r])
                ii.append(ram.pos[r][0])
                jj.append(ram.pos[r][1])
                k = int(row.free) - 1
                kk.append(k)
                fx.append(0.0 if k >= 0 else float(row.fixed))
                self.rows.append((level, row.lhs, row.op, row.rhs, row.label or "", k,
                                  None if k >= 0 else float(row.fixed)))
            C, m = fx_stats[level]
            fxl = fixed_x[level]
            for a, xa in enumerate(fxl):
                for b in range(a, len(fxl)):
                    kind.append("P")
                    ii.append(ram.ix[xa])
                    jj.append(ram.ix[fxl[b]])
                    kk.append(-1)
                    fx.append(float(C[a, b]))
                    self.rows.append((level, xa, "~~", fxl[b], "", -1, float(C[a, b])))
            lat = set(lspec.latent)
            for v in lspec.observed + lspec.latent:
                if v in fxl:
                    val, k = float(m[fxl.index(v)]), -1
                elif v in lat or (level == 1 and v in both):
                    val, k = 0.0, -1
                else:
                    val, k = 0.0, next_k
                    next_k += 1
                kind.append("m")
                ii.append(ram.ix[v])
                jj.append(0)
                kk.append(k)
                fx.append(val)
                self.rows.append((level, v, "~1", "", "", k, None if k >= 0 else val))
            self.rams.append(ram)
            obs_ix = np.array([ram.ix[v] for v in lspec.observed], dtype=int)
            self._kinds = None
            self.cores.append((kind, ii, jj, kk, fx, ram.m, obs_ix))
        self.q = next_k
        self.cores = [GroupCore(m_, obs_ix, self.q, kind, ii, jj, kk, fx)
                      for kind, ii, jj, kk, fx, m_, obs_ix in self.cores]
        self.npar = self.q

    # -- the objective ------------------------------------------------------------------------
    def value_gradient(self, x):
        try:
            st = [c.structure(x) for c in self.cores]
        except EstimationError:
            return np.inf, np.full(self.q, np.nan)
        (Sw, mw), (Sb, mb) = [(c._obs_block(s[4]), s[3][c._o] @ s[2])
                              for c, s in zip(self.cores, st)]
        f, g = minus2_loglik(self.layout, self.data, Sw, Sb, mw, mb)
        if not np.isfinite(f):
            return np.inf, np.full(self.q, np.nan)
        Gw, Gb, gw, gb = g
        grad = (self.cores[0].moment_gradient(st[0], Gw, gw)
                + self.cores[1].moment_gradient(st[1], Gb, gb))
        return f, grad

    def cluster_gradients(self, x) -> np.ndarray:
        """∂F_j/∂θ for every cluster j (J × q), F_j its −2 log L term."""
        st = [c.structure(x) for c in self.cores]
        (Sw, mw), (Sb, mb) = self.moments(x)
        Gw, Gb, gw, gb = cluster_gradients(self.layout, self.data, Sw, Sb, mw, mb)
        c0, c1 = self.cores
        return np.array([c0.moment_gradient(st[0], Gw[j], gw[j])
                         + c1.moment_gradient(st[1], Gb[j], gb[j]) for j in range(len(Gw))])

    def moments(self, x):
        """(Σ_W, μ_W), (Σ_B, μ_B) over each level's observed variables."""
        return [c.moments(x) for c in self.cores]

    def start(self, X: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
        """Start values: each level's simple starts (as a one-level model of the pooled
        within covariance, and of the covariance of the cluster means), intercepts at the
        sample means."""
        from ..model.core import ModelCore

        d, lay = self.data, self.layout
        x = np.zeros(self.q)
        Sw = d.within_scatter / max(d.N - d.J, 1)
        Sw = pd.DataFrame(Sw, index=lay.y, columns=lay.y)
        means = pd.DataFrame(np.hstack([d.ybar, d.zj]), columns=lay.y + lay.z)
        Sb = means.cov(ddof=0)
        nbar = d.N / d.J
        for v in lay.both:
            Sb.loc[v, v] = max(Sb.loc[v, v] - Sw.loc[v, v] / nbar, 0.1 * Sb.loc[v, v])
        offset = 0
        for lspec, S in zip(self.spec.levels, (Sw, Sb)):
            core = ModelCore(lspec)
            obs = list(lspec.observed)
            xs = core.start_values(S.loc[obs, obs].to_numpy())
            x[offset:offset + core.q] = xs
            offset += core.q
        allmeans = X[lay.y].mean()
        zmeans = pd.Series(d.zj.mean(axis=0), index=lay.z)
        for level, lhs, op, rhs, _, k, _ in self.rows:
            if op == "~1" and k >= 0:
                x[k] = allmeans[lhs] if lhs in allmeans.index else zmeans.get(lhs, 0.0)
        return x


def _minimize(fg, x0, n_scale, *, newton: bool = True):
    """BFGS on the analytic gradient; then (``newton``) Newton steps on one numerical Hessian
    of it (which the standard errors need anyway), and the Hessian at the solution."""
    def fun(z):
        f, g = fg(z)
        if not np.isfinite(f):
            return 1e300, np.zeros_like(z)
        return f / n_scale, g / n_scale

    res = optimize.minimize(fun, x0, jac=True, method="BFGS",
                            options={"gtol": 1e-9, "maxiter": 5000})
    x = res.x
    f, g = fg(x)
    H = None
    if newton:
        H = hessian(fg, x)
        for _ in range(3):
            try:
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            f2, g2 = fg(x - step)
            if not (np.isfinite(f2) and f2 <= f + 1e-12 * abs(f)):
                break
            x, f, g = x - step, f2, g2
            if np.max(np.abs(step)) < 1e-12:
                break
        H = hessian(fg, x)
    converged = bool(np.all(np.isfinite(g)) and np.max(np.abs(g)) < 1e-3)
    return x, f, g, H, converged, int(res.nit)


def hessian(fg, x, rel: float = 1e-5) -> np.ndarray:
    """∂²F/∂θ∂θᵀ by central differences of the analytic gradient, symmetrized."""
    q = len(x)
    H = np.zeros((q, q))
    for k in range(q):
        h = rel * max(1.0, abs(x[k]))
        e = np.zeros(q)
        e[k] = h
        H[:, k] = (fg(x + e)[1] - fg(x - e)[1]) / (2 * h)
    return (H + H.T) / 2


class _Saturated:
    """The h1 (unrestricted) and baseline models of two-level data on the same likelihood:
    Σ_W, Σ_B and the means free where ``mask_w``/``mask_b`` say, fixed at the given values
    elsewhere."""

    def __init__(self, lay, data, Sw0, Sb0, mw0, mb0, mask_w, mask_b, free_mw, free_mb):
        self.lay, self.data = lay, data
        self.Sw0, self.Sb0, self.mw0, self.mb0 = Sw0, Sb0, mw0, mb0
        iw = np.tril_indices(len(Sw0))
        ib = np.tril_indices(len(Sb0))
        self.iw = tuple(a[mask_w[iw]] for a in iw)
        self.ib = tuple(a[mask_b[ib]] for a in ib)
        self.fmw = np.flatnonzero(free_mw)
        self.fmb = np.flatnonzero(free_mb)
        self.sizes = np.cumsum([0, len(self.iw[0]), len(self.ib[0]), len(self.fmw),
                                len(self.fmb)])

    def unpack(self, x):
        a, b, c, d, e = self.sizes
        Sw, Sb = self.Sw0.copy(), self.Sb0.copy()
        Sw[self.iw] = x[a:b]
        Sw[self.iw[::-1]] = x[a:b]
        Sb[self.ib] = x[b:c]
        Sb[self.ib[::-1]] = x[b:c]
        mw, mb = self.mw0.copy(), self.mb0.copy()
        mw[self.fmw] = x[c:d]
        mb[self.fmb] = x[d:e]
        return Sw, Sb, mw, mb

    def pack(self, Sw, Sb, mw, mb):
        return np.concatenate([Sw[self.iw], Sb[self.ib], mw[self.fmw], mb[self.fmb]])

    def value_gradient(self, x):
        f, g = minus2_loglik(self.lay, self.data, *self.unpack(x))
        if not np.isfinite(f):
            return np.inf, np.full(len(x), np.nan)
        Gw, Gb, gw, gb = g
        off_w = np.where(self.iw[0] == self.iw[1], 1.0, 2.0)
        off_b = np.where(self.ib[0] == self.ib[1], 1.0, 2.0)
        return f, np.concatenate([off_w * Gw[self.iw], off_b * Gb[self.ib], gw[self.fmw],
                                  gb[self.fmb]])


def _saturated_cluster_gradients(sat, x) -> np.ndarray:
    """∂F_j/∂(free moments) of the saturated (or baseline) model for every cluster."""
    Gw, Gb, gw, gb = cluster_gradients(sat.lay, sat.data, *sat.unpack(x))
    off_w = np.where(sat.iw[0] == sat.iw[1], 1.0, 2.0)
    off_b = np.where(sat.ib[0] == sat.ib[1], 1.0, 2.0)
    return np.hstack([off_w * Gw[:, sat.iw[0], sat.iw[1]], off_b * Gb[:, sat.ib[0], sat.ib[1]],
                      gw[:, sat.fmw], gb[:, sat.fmb]])


def _trace(H, scores) -> float:
    """tr(A⁻¹B) with A = H/2 the observed information (H the Hessian of −2 log L) and B the
    first-order information Σ_j s_j s_jᵀ of the cluster scores s_j = −½ ∂F_j/∂θ."""
    return float(np.trace(np.linalg.solve(H, scores.T @ scores))) / 2


def _fit_saturated(sat, x0, N):
    x, f, g, H, ok, _ = _minimize(sat.value_gradient, x0, N, newton=False)
    return x, f, ok


def _cov2cor(S):
    d = np.sqrt(np.diag(S))
    return S / np.outer(d, d)


def _force_pd(S, tol=1e-6):
    """lavaan's ``lav_matrix_symmetric_force_pd``: eigenvalues below tol × the largest
    raised to it."""
    if S.shape[0] == 1:
        return np.array([[max(S[0, 0], tol)]])
    w, V = np.linalg.eigh(S)
    w = w[::-1]
    V = V[:, ::-1]
    w = np.where(w / abs(w[0]) < tol, tol * abs(w[0]), w)
    return (V * w) @ V.T


def _srmr(S, Sigma):
    R = _cov2cor(S) - _cov2cor(Sigma)
    i = np.tril_indices(len(S))
    return float(np.sqrt(np.sum(R[i] ** 2) / len(i[0])))


#: lavaan 0.6.14's ``fitMeasures()`` names for a two-level ML fit, in its order.
MEASURE_NAMES = ("npar", "fmin", "chisq", "df", "pvalue", "baseline_chisq", "baseline_df",
                 "baseline_pvalue", "cfi", "tli", "nnfi", "rfi", "nfi", "pnfi", "ifi", "rni",
                 "logl", "unrestricted_logl", "aic", "bic", "ntotal", "bic2", "rmsea",
                 "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_ci_level", "rmsea_pvalue",
                 "rmsea_close_h0", "rmsea_notclose_pvalue", "rmsea_notclose_h0", "srmr",
                 "srmr_within", "srmr_between")


def _robust_names() -> tuple:
    from ..measures.fitmeasures import RESIDUAL_NAMES, lavaan_measure_names

    leave = set(RESIDUAL_NAMES) - {"srmr"} | {"cn_05", "cn_01", "gfi", "agfi", "pgfi", "mfi",
                                              "ecvi"}
    names = lavaan_measure_names(scaled=True, robust=True, yuan_bentler=True)
    return tuple(n for n in names if n not in leave) + ("srmr_within", "srmr_between")


#: lavaan 0.6.14's ``fitMeasures()`` names for a two-level MLR fit, in its order.
ROBUST_MEASURE_NAMES = _robust_names()


def _covariate_moments(sat, fx1, fx2) -> np.ndarray:
    """Which free moments of the saturated model are the fixed.x covariates' own (their
    (co)variances and means): left out of the h1 trace, as lavaan zeroes them."""
    f1, f2 = set(fx1), set(fx2)
    return np.concatenate([[a in f1 and b in f1 for a, b in zip(*sat.iw)],
                           [a in f2 and b in f2 for a, b in zip(*sat.ib)],
                           [i in f1 for i in sat.fmw], [i in f2 for i in sat.fmb]]
                          ).astype(bool)


def fit(spec, X: pd.DataFrame, *, report=None, cluster: str, estimator=None):
    """Fit a two-level model (``spec.levels``) by ML to complete data with a cluster column.

    Parameters
    ----------
    spec : ModelSpec
        With ``level: 1`` and ``level: 2`` blocks.
    X : DataFrame
        Complete data of the model's observed variables and the column ``cluster``.
    cluster : str
    estimator : Estimator or str
        ML (the registry entry, kept for the result's label).

    Returns
    -------
    SEMResult
        ``estimates`` with lavaan's ``level`` column after ``rhs`` (1 within, 2 between),
        ``~1`` rows for every variable of each level, ``std_all`` per level; ``moments``: the
        within and between sample (h1) and implied moments; fit measures as lavaan's for a
        two-level fit (:data:`MEASURE_NAMES`), χ² against the unrestricted two-level model.
    """
    from scipy import stats

    from ..measures import fitmeasures as fmz
    from ..numerics import invert_information
    from ..result.result import GroupMoments
    from ..result.builder import level_result, wald_columns

    check_supported(getattr(estimator, "name", estimator or "ML"))
    if cluster not in X.columns:
        raise EstimationError(f"cluster column '{cluster}' is not among the prepared columns")
    obs = list(spec.observed)
    Xo = X[obs]
    if Xo.isna().to_numpy().any():
        raise OptionError("missing answers in a two-level model are not built yet; use "
                          "missing='listwise' (complete rows)")
    codes, labels = pd.factorize(X[cluster])
    if (codes < 0).any():
        raise DataError(f"rows without a cluster id in '{cluster}'")
    if len(labels) < 2:
        raise DataError(f"cluster column '{cluster}' has a single cluster; a two-level model "
                        f"needs at least two")
    s1, s2 = spec.levels
    lay = _Layout(s1.observed, s2.observed)
    data = ClusterData(Xo, codes, lay.y, lay.z)
    if data.N == data.J:
        raise DataError(f"every cluster in '{cluster}' has one row; a two-level model needs "
                        f"clusters of several firms")
    model = TwoLevelModel(spec, data, Xo, codes)
    if getattr(estimator, "name", estimator) == "MLR" and (model.fixed_x[1] or model.fixed_x[2]):
        # on Demo.twolevel (covariates at both levels) the h0 trace is 5e-5 and the robust SEs
        # 2e-4 from lavaan's: not yet lavaan's numbers, so not given
        raise OptionError("two-level MLR with exogenous covariates (" + ", ".join(
            model.fixed_x[1] + model.fixed_x[2]) + ") is not built yet; use estimator ML, or "
            "MLR on a model without covariates")
    N = data.N
    x, f, g, H, converged, nit = _minimize(model.value_gradient, model.start(Xo, codes), N)
    # lavaan reports the log-likelihood conditional on the fixed.x covariates: the joint one
    # minus their own (saturated normal) log-likelihood, within over the rows, between over
    # the clusters (lav_samplestats: loglik.x)
    logl_x = _covariate_loglik(model)
    logl = -f / 2 - logl_x
    warnings_ = []
    if not converged:
        warnings_.append("the two-level ML fit did not converge (gradient not at zero): the "
                         "estimates are not trustworthy")
    # observed information: the Hessian of −log L = H/2
    vcov, vcov_ok = invert_information(H / 2, symmetrize=True)
    if not vcov_ok:
        warnings_.append("the observed information matrix is singular: no standard errors "
                         "(is the model identified?)")
    se = np.sqrt(np.clip(np.diag(vcov), 0, None)) if vcov_ok else np.full(model.q, np.nan)

    # -- h1 and baseline ----------------------------------------------------------------------
    (Sw, mw), (Sb, mb) = model.moments(x)
    py, p2 = len(lay.y), len(lay.l2)
    fx1 = [lay.y.index(v) for v in model.fixed_x[1]]
    fx2 = [lay.l2.index(v) for v in model.fixed_x[2]]
    free_mw = np.zeros(py, dtype=bool)
    free_mw[[lay.y.index(v) for v in lay.within_only]] = True
    free_mb = np.ones(p2, dtype=bool)
    mask_b_h1 = np.ones((p2, p2), dtype=bool)
    # the within-only variables have no Σ_B rows: level 2 holds both and between-only ones
    sat = _Saturated(lay, data, Sw, Sb, mw, mb, np.ones((py, py), dtype=bool), mask_b_h1,
                     free_mw, free_mb)
    xh1, fh1, ok1 = _fit_saturated(sat, sat.pack(Sw, Sb, mw, mb), N)
    logl_h1 = -fh1 / 2 - logl_x
    Sw_h1, Sb_h1, mw_h1, mb_h1 = sat.unpack(xh1)
    n_fx = n_moments(len(fx1), means=True) + n_moments(len(fx2), means=True)  # covariates' own
    npar_h1 = len(xh1)
    npar = model.q
    df = npar_h1 - npar - n_fx
    # baseline: variances (and means) only, the covariates' blocks held at their values
    mw_b = np.eye(py, dtype=bool)
    mb_b = np.eye(p2, dtype=bool)
    Sw0 = np.diag(np.diag(Sw_h1))
    Sb0 = np.diag(np.diag(Sb_h1))
    for S0, S, fx, mask in ((Sw0, Sw, fx1, mw_b), (Sb0, Sb, fx2, mb_b)):
        if fx:
            S0[np.ix_(fx, fx)] = S[np.ix_(fx, fx)]
            mask[np.ix_(fx, fx)] = False
    fmw_b, fmb_b = free_mw.copy(), free_mb.copy()
    fmw_b[fx1] = False
    fmb_b[fx2] = False
    base = _Saturated(lay, data, Sw0, Sb0, mw, mb, mw_b, mb_b, fmw_b, fmb_b)
    xb, fb, okb = _fit_saturated(base, base.pack(Sw0, Sb0, mw, mb), N)
    robust = getattr(estimator, "name", estimator) == "MLR"
    if robust:
        # Huber-White: A⁻¹ B A⁻¹ with A the observed information and B the cluster scores'
        # cross-product (lavaan's MLR for two levels: se = "robust.huber.white")
        S0 = model.cluster_gradients(x) / 2
        B0 = S0.T @ S0
        if vcov_ok:
            vcov = vcov @ B0 @ vcov
            se = np.sqrt(np.clip(np.diag(vcov), 0, None))
        keep = ~_covariate_moments(sat, fx1, fx2)
        H1 = hessian(sat.value_gradient, xh1)
        S1 = _saturated_cluster_gradients(sat, xh1)[:, keep]
        tr1 = _trace(H1[np.ix_(keep, keep)], S1)
        tr0 = _trace(H, model.cluster_gradients(x))
    X2 = max(f - fh1, 0.0) if df >= 0 else np.nan
    X2b = fb - fh1
    dfb = npar_h1 - len(xb) - n_fx
    # lavaan's fmin for two levels: its objective, −2 log L without the 2π constant, / 2N
    out = {"npar": npar, "fmin": (f - data.constant) / (2 * N), "chisq": X2, "df": df,
           "pvalue": float(stats.chi2.sf(X2, df)) if df > 0 else np.nan,
           "baseline_chisq": X2b, "baseline_df": dfb,
           "baseline_pvalue": float(stats.chi2.sf(X2b, dfb)) if dfb > 0 else np.nan}
    out.update(fmz.incremental_indices(X2, df, X2b, dfb, N))
    out.update(fmz.likelihood_measures(logl, logl_h1, npar, N))
    out["ntotal"] = N
    srmr_w = _srmr(Sw_h1, Sw)
    Sb_pd = _force_pd(Sb)
    srmr_b = _srmr(Sb_h1, Sb_pd) if np.all(np.diag(Sb_pd) > 0) else np.nan
    out.update(srmr=srmr_w + srmr_b, srmr_within=srmr_w, srmr_between=srmr_b)
    names = MEASURE_NAMES
    if robust:
        from ..measures.scaled import scaled_measures

        c = (tr1 - tr0) / df if df > 0 else np.nan
        Hb = hessian(base.value_gradient, xb)
        tr0_b = _trace(Hb, _saturated_cluster_gradients(base, xb))
        c_b = (tr1 - tr0_b) / dfb
        out.update(scaled_measures(pd.Series(out), chisq_scaled=X2 / c, df_scaled=df,
                                   scaling_factor=c, baseline_chisq_scaled=X2b / c_b,
                                   baseline_df_scaled=dfb, baseline_scaling_factor=c_b, n=N,
                                   kind="yuan.bentler.mplus", trace_ugamma=tr1 - tr0))
        out.update(scaling_factor_h1=tr1 / int(keep.sum()), scaling_factor_h0=tr0 / npar)
        names = ROBUST_MEASURE_NAMES
    measures = pd.Series({k: out.get(k, np.nan) for k in names}, dtype=float)
    if not (ok1 and okb):
        warnings_.append("the unrestricted or baseline two-level model did not converge: "
                         "chi-square and the fit indices are not trustworthy")

    # -- the estimates table ------------------------------------------------------------------
    std = _standardized(model, x)
    recs = []
    for (level, lhs, op, rhs, label, k, fixed), (s_lv, s_all) in zip(model.rows, std):
        est = x[k] if k >= 0 else fixed
        recs.append({"lhs": lhs, "op": op, "rhs": rhs, "level": level, "label": label,
                     "est": est, "se": se[k] if k >= 0 else 0.0, "std_lv": s_lv,
                     "std_all": s_all, "se_std_all": np.nan, "free": k + 1})
    table = pd.DataFrame(recs)
    table = wald_columns(table.rename(columns={"level": "group"}))
    table = table.rename(columns={"group": "level"})
    # every negative variance is flagged, as lavaan's warning
    neg = table[(table.op == "~~") & (table.lhs == table.rhs) & (table.est < 0)]
    admissible = neg.empty
    if not admissible:
        warnings_.append("negative variance(s): " + ", ".join(
            f"{r.lhs} (level {r.level})" for r in neg.itertuples()))
    moments = []
    for name, lspec, (S_h1, m_h1), (Si, mi), nobs in (
            ("within", s1, (Sw_h1, mw_h1 + _fold(lay, mb_h1)), (Sw, mw + _fold(lay, mb)), N),
            ("between", s2, (Sb_h1, mb_h1), (Sb, mb), data.J)):
        o = list(lspec.observed)
        lat = list(lspec.latent)
        core = model.cores[0 if name == "within" else 1]
        _, _, mv, B, C = core.structure(x)
        lat_ix = list(range(len(lat)))
        moments.append(GroupMoments(
            label=name, nobs=int(nobs),
            sample_cov=pd.DataFrame(S_h1, index=o, columns=o),
            sample_mean=pd.Series(m_h1, index=o),
            implied_cov=pd.DataFrame(Si, index=o, columns=o),
            implied_mean=pd.Series(mi if name == "between" else mw + _fold(lay, mb), index=o),
            latent_cov=pd.DataFrame(C[np.ix_(lat_ix, lat_ix)], index=lat, columns=lat),
            latent_mean=pd.Series((B @ mv)[lat_ix], index=lat),
            r2=_r_squared(core, lspec, x, (B, C))))
    r2 = pd.concat({m.label: m.r2 for m in moments}) if moments else pd.Series(dtype=float)
    info = {"x": x.tolist(), "optimizer": f"BFGS + Newton ({nit} BFGS iterations)",
            "se": "standard", "information": "observed", "test": "standard",
            "n_clusters": int(data.J), "cluster": cluster, "levels": ("within", "between"),
            "missing": "listwise",
            "cluster_sizes": [int(v) for v in data.cluster_sizes]}
    return level_result(spec, table=table, measures=measures, r2=r2, nobs=N,
                        converged=converged, admissible=admissible, warnings_=warnings_,
                        vcov=vcov, names=[f"p{k + 1}" for k in range(model.q)], report=report,
                        estimator=estimator or "ML", info=info, moments=moments, data=X)


def _covariate_loglik(model) -> float:
    """The fixed.x covariates' own log-likelihood, −n/2 (p log 2π + log|S| + p) with S their
    (divisor-n) covariance: within-only ones over the N rows, between-only ones over the J
    clusters."""
    out = 0.0
    for (C, _), n in ((model.fx_stats[1], model.data.N), (model.fx_stats[2], model.data.J)):
        p = C.shape[0]
        if p:
            out += -n / 2 * (p * LOG2PI + np.linalg.slogdet(C)[1] + p)
    return float(out)


def _fold(lay, mb):
    """The between means of the variables at both levels, placed in the level-1 order (the
    within implied mean of such a variable is its overall mean)."""
    out = np.zeros(len(lay.y))
    out[lay.b1] = mb[lay.b2]
    return out


def _standardized(model: TwoLevelModel, x):
    """(std.lv, std.all) of every row, per level from that level's model-implied total
    variances of all variables (latent and observed), as lavaan standardizes each block
    (``lav_standardize_lv``/``_all``: (co)variances by the total standard deviations)."""
    out = []
    cache = {}
    for level, core, ram in ((1, model.cores[0], model.rams[0]),
                             (2, model.cores[1], model.rams[1])):
        _, _, _, _, C = core.structure(x)
        cache[level] = (np.sqrt(np.clip(np.diag(C), 0, None)), ram.ix, set(ram.spec.latent))
    with np.errstate(divide="ignore", invalid="ignore"):
        for level, lhs, op, rhs, _, k, fixed in model.rows:
            sd, ix, lat = cache[level]
            est = x[k] if k >= 0 else fixed
            a = sd[ix[lhs]]
            la = a if lhs in lat else 1.0
            if op == "~1":
                out.append((est / la, est / a))
                continue
            b = sd[ix[rhs]]
            lb = b if rhs in lat else 1.0
            if op == "=~":
                out.append((est * a, est * a / b))
            elif op == "~":
                out.append((est * lb / la, est * b / a))
            else:
                out.append((est / (la * lb), est / (a * b)))
    return out


def _r_squared(core, lspec, x, BC) -> pd.Series:
    B, C = BC
    _, P, _, _, _ = core.structure(x)
    ix = {v: i for i, v in enumerate(list(lspec.latent) + list(lspec.observed))}
    out = {}
    for v in lspec.endogenous:
        tot = C[ix[v], ix[v]]
        # lavaan gives NA where a negative residual variance makes R² exceed 1
        r2 = 1 - P[ix[v], ix[v]] / tot if tot > 0 else np.nan
        out[v] = r2 if r2 <= 1 else np.nan
    return pd.Series(out, dtype=float)
