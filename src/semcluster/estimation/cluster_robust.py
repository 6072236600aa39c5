"""Cluster-robust MLR for single-level models: firms nested in clusters (lavaan's ``cluster=``).

lavaan 0.6.14 ``sem(model, data, cluster = "park", estimator = "MLR")`` on a model without
``level:`` blocks keeps the ML estimates and changes what is claimed about them
(``lav_options_set``: ``meanstructure = TRUE``, ``se = "robust.cluster"``,
``test = "yuan.bentler.mplus"``, ``information = "observed"``).  The only difference from
MLR on independent rows (:mod:`semcluster.estimation.mlr`) is the "meat" of every sandwich,
the first-order information (``lav_mvnorm_information_firstorder`` with ``cluster.idx``):

    B = G/(G − 1) · Σ_c s_c s_cᵀ / N,     s_c = Σ_{i in cluster c} s_i,

the casewise scores s_i (of the means and vech Σ, and through Δ of the parameters) summed
within each of the G clusters, with the small-sample factor G/(G − 1) that lavaan applies.

* **Standard errors**: V = A⁻¹ (N·B) A⁻¹, A the observed information (Hessian of −log L)
  at the estimate (lavaan ``se = "robust.cluster"``).
* **Scaled test** (Yuan–Bentler, Mplus form): T_ML / c, c = [tr(A₁⁻¹B₁) − tr(A₀⁻¹B₀)] / df
  with the clustered B₁ (saturated model, at the sample moments) and B₀ (the model, at Σ̂).
  lavaan adds the mean structure when data are clustered; the means are saturated
  (μ̂ = x̄), so A is block-diagonal, the estimates, df and χ² do not change, but the mean
  block no longer cancels in the traces (Σ_c of the residuals within a cluster is not zero):
  both traces include it here, and ``npar`` (hence AIC/BIC) counts the intercepts, as lavaan's.
  The same for the baseline (independence) model, for its scaling factor.
* Fit measures: :func:`semcluster.estimation.mlr.scaled_fit_measures` (lavaan's
  ``*_scaled`` and ``*_robust`` indices from these factors).

``estimator = "ML"`` with ``cluster=``: lavaan 0.6.14 then also uses ``se = "robust.cluster"``
and adds the Yuan–Bentler test, but (asking for two tests) computes the model's information in
the trace from the h1 observed information, Δ'H₁(Σ̂)Δ, not the Hessian: a slightly different
scaling factor, reproduced here (``h1_test_information``).

Missing answers: robust FIML (:func:`semcluster.estimation.fiml.fit` with ``cluster=``) with
the same clustered meat in its sandwich, h1 first-order information and baseline trace
(lavaan's ``missing = "ml"``, ``estimator = "MLR"``, ``cluster =``).

Not built (each refused with a message): FIML with ``cluster=`` and estimator ML, WLSMV,
multi-group and two-level models.

Checked against lavaan 0.6.14 in tests/test_cluster_robust.py (R script and fixtures in
tests/fixtures/cluster/).
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from ..data.clusters import cluster_sums
from ..errors import EstimationError, OptionError
from ..numerics import n_moments
from ._structure import CovarianceStructure, duplication_matrix, invert_information, vech_indices
from .mlr import (RobustML, _h1_expected_information, _score_rows, baseline_design,
                  observed_information, scaled_fit_measures, x_vech_mask)

ESTIMATOR = "MLR"

__all__ = ["fit", "cluster_robust_ml", "cluster_sums"]


def _mean_scores(Sinv: np.ndarray, d: np.ndarray, ys) -> np.ndarray:
    """∂ log L_i / ∂μ for the free means (the non-fixed-x variables)."""
    return (d @ Sinv)[:, ys]


def _trace(Sigma, d, Delta, A0, codes, G, ys) -> float:
    """tr(A⁻¹B) of a model with saturated means: A = blockdiag(Σ⁻¹[y,y], A0/N), B from the
    clustered scores of (μ_y, θ), Δ mapping vech Σ to θ."""
    n = d.shape[0]
    Sinv = np.linalg.inv(Sigma)
    sc = np.hstack([_mean_scores(Sinv, d, ys), _score_rows(Sinv, d) @ Delta])
    C = cluster_sums(sc, codes, G)
    B = C.T @ C / n
    m = len(ys)
    A = np.zeros((m + A0.shape[0],) * 2)
    A[:m, :m] = Sinv[np.ix_(ys, ys)]
    A[m:, m:] = A0 / n
    return float(np.trace(np.linalg.solve(A, B)))


def h1_observed_information(Sigma: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Observed information (per observation) of vech Σ in the saturated model, evaluated at Σ
    with sample covariance S and μ = x̄: ½ D'(V⊗U + U⊗V − V⊗V)D, V = Σ⁻¹, U = VSV
    (lavaan's ``observed.information = "h1"``; equals the expected information at Σ = S)."""
    p = Sigma.shape[0]
    V = np.linalg.inv(Sigma)
    U = V @ S @ V
    D = duplication_matrix(p)
    K = np.kron(V, U) + np.kron(U, V) - np.kron(V, V)
    return 0.5 * D.T @ K @ D


def cluster_robust_ml(structure: CovarianceStructure, X: np.ndarray, x: np.ndarray,
                      codes: np.ndarray, fixed_x_idx=(), *, h1_test_information: bool = False
                      ) -> RobustML:
    """Cluster-robust covariance and Yuan–Bentler scaling factors at the ML estimate ``x``.

    ``codes`` gives each row's cluster as 0 … G−1.  Returns an :class:`mlr.RobustML`
    (``trace_h1`` includes the mean block).  ``h1_test_information``: the model's information
    in the test's trace is Δ'H₁(Σ̂)Δ (:func:`h1_observed_information`) instead of the Hessian,
    as lavaan 0.6.14 does for ``estimator = "ML"`` with ``cluster =`` (it asks for the
    standard and the Yuan–Bentler test, and then sets ``observed.information`` to "h1" for
    the tests).
    """
    X = np.asarray(X, dtype=float)
    try:
        with np.errstate(all="ignore"):
            return _cluster_robust_ml(structure, X, x, np.asarray(codes), list(fixed_x_idx),
                                      h1_test_information)
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, FloatingPointError):
        q = structure.q
        return RobustML(vcov=np.full((q, q), np.nan), vcov_ok=False, scaling_factor=np.nan,
                        baseline_scaling_factor=np.nan, trace_ugamma=np.nan,
                        observed_information=np.full((q, q), np.nan))


def _cluster_robust_ml(structure, X, x, codes, fixed_x_idx, h1_test) -> RobustML:
    n, p = X.shape
    G = int(codes.max()) + 1
    nx = len(fixed_x_idx)
    ys = [j for j in range(p) if j not in set(fixed_x_idx)]
    d = X - X.mean(axis=0)
    S = d.T @ d / n
    Sigma, Delta = structure.jacobian_vech(x)
    A = observed_information(structure, x, S, n)
    # sandwich for θ: A is block-diagonal in (μ, θ), so the θ block needs the θ scores only
    sc = cluster_sums(_score_rows(np.linalg.inv(Sigma), d) @ Delta, codes, G)
    Ainv, ok = invert_information(A, symmetrize=True)
    vcov = Ainv @ (sc.T @ sc) @ Ainv if ok else np.full(A.shape, np.nan)

    # saturated model at the sample moments: vech Σ without the fixed-x block, means of y
    keep = x_vech_mask(p, fixed_x_idx)
    Sinv = np.linalg.inv(S)
    s1 = np.hstack([_mean_scores(Sinv, d, ys), _score_rows(Sinv, d)[:, keep]])
    C1 = cluster_sums(s1, codes, G)
    B1 = C1.T @ C1 / n
    m = len(ys)
    A1 = np.zeros((m + int(keep.sum()),) * 2)
    A1[:m, :m] = Sinv[np.ix_(ys, ys)]
    A1[m:, m:] = _h1_expected_information(S)[np.ix_(keep, keep)]
    tr1 = float(np.trace(np.linalg.solve(A1, B1)))

    df = n_moments(p, n_fixed_x=nx) - structure.q
    if ok and df > 0:
        A_test = n * Delta.T @ h1_observed_information(Sigma, S) @ Delta if h1_test else A
        trace = tr1 - _trace(Sigma, d, Delta, A_test, codes, G, ys)
        c = trace / df
    else:
        trace = c = np.nan
    # baseline (independence) model, as in mlr._robust_ml, with its saturated means
    Sigma_b, Delta_b, A0_b, df_b = baseline_design(S, n, fixed_x_idx)
    c_b = ((tr1 - _trace(Sigma_b, d, Delta_b, A0_b, codes, G, ys)) / df_b if df_b > 0
           else np.nan)
    return RobustML(vcov=vcov, vcov_ok=bool(ok and np.all(np.isfinite(vcov))),
                    scaling_factor=float(c), baseline_scaling_factor=float(c_b),
                    trace_ugamma=float(trace), observed_information=A, trace_h1=tr1)


def check_supported(estimator: str, *, missing: str | None = None, group=None,
                    ordered=None) -> None:
    """Refuse what ``cluster=`` is not built for, before anything is read or fitted."""
    if group is not None:
        raise OptionError("cluster= with group= (multi-group cluster-robust fits) is not "
                              "built yet; fit each group on its own or drop --cluster")
    if ordered or estimator == "WLSMV":
        raise OptionError("cluster= with WLSMV (ordinal items) is not built yet: lavaan "
                              "then uses robust.cluster.sem SEs; drop --cluster or treat the "
                              "items as continuous with --estimator MLR")
    if estimator not in ("ML", "MLR"):
        raise OptionError(f"cluster= is available with estimators ML and MLR (as lavaan: "
                          f"cluster-robust SEs either way), not {estimator}")
    if missing == "fiml" and estimator != "MLR":
        raise OptionError(
            "cluster= with missing answers (FIML) is built for estimator MLR (lavaan's "
            "cluster =, missing = 'ml', estimator = 'MLR'); pass --estimator MLR, or "
            "--missing listwise (missing='listwise') to fit the complete rows")


def fit(spec, X: pd.DataFrame, *, report=None, cluster: str, estimator: str = "MLR"):
    """ML estimates with cluster-robust SEs and the clustered Yuan–Bentler test.

    Parameters
    ----------
    spec : ModelSpec
    X : DataFrame
        Complete data of the model's observed variables and the column ``cluster`` (as
        :func:`semcluster.data.survey.read_survey` returns with ``DataOptions(cluster=...)``).
    cluster : str
        The cluster column.
    estimator : {"MLR", "ML"}
        lavaan 0.6.14 gives cluster-robust SEs and a Yuan–Bentler test for both; with ML the
        test's trace uses the h1 observed information (a slightly different scaling factor),
        as lavaan's.

    Returns
    -------
    SEMResult
        ``estimator == "MLR"``, ``info["se"] == "robust.cluster"``, ``info["n_clusters"]``.
    """
    from ..data.survey import sample_covariance
    from .engine import MLEngine
    from ..measures.fitmeasures import fit_measures
    from ..result.builder import assemble_result
    from .identification import check_identification

    name = getattr(estimator, "name", estimator)
    if cluster not in X.columns:
        raise EstimationError(f"cluster column '{cluster}' is not among the prepared columns")
    ids = X[cluster]
    Xo = X[spec.observed]
    codes, labels = pd.factorize(ids)
    if (codes < 0).any():
        raise EstimationError(f"rows without a cluster id in '{cluster}'")
    G = len(labels)
    if G < 2:
        raise EstimationError(f"cluster column '{cluster}' has a single cluster; clustering "
                              f"needs at least two")
    if Xo.isna().to_numpy().any():
        # robust FIML with the clustered meat (fiml.fit(..., cluster=)), lavaan's cluster = with
        # missing = "ml", estimator = "MLR"; fiml.fit records the robust.cluster SEs
        from . import fiml

        check_supported(name, missing="fiml")
        return fiml.fit(spec, X, report=report, robust=True, cluster=cluster,
                        estimator=estimator)
    ident = check_identification(spec)
    n = len(Xo)
    S = sample_covariance(Xo)
    engine = MLEngine(spec)
    engine.load(S, n, Xo)
    opt = engine.fit()
    structure = CovarianceStructure.of(spec)
    structure.set_fixed_x(S.loc[spec.observed, spec.observed].to_numpy())
    arr = Xo.to_numpy(dtype=float)
    rob = cluster_robust_ml(structure, arr, opt.x, codes, engine.fixed_x_idx,
                            h1_test_information=name == "ML")
    obs = engine.observed
    Sigma = engine.implied(opt.x)
    ml_measures = fit_measures(S.loc[obs, obs].to_numpy(), Sigma, n, spec.n_free,
                               fixed_x_idx=engine.fixed_x_idx)
    measures, notes = scaled_fit_measures(ml_measures, spec, rob, n)
    measures = _with_mean_structure(measures, spec, rob, n,
                                    S.loc[spec.observed, spec.observed].to_numpy(),
                                    structure.jacobian_vech(opt.x)[0], arr.mean(axis=0))
    lead = []
    if not rob.vcov_ok and ident.identified:
        lead.append("the cluster-robust standard errors could not be computed: the information "
                    "or score matrices are numerically singular; no standard errors are given")
    return assemble_result(spec, engine, opt.x, S, n, converged=opt.converged,
                           message=opt.message, report=report, estimator=estimator,
                           vcov=rob.vcov, vcov_ok=rob.vcov_ok, measures=measures,
                           extra_rows=_intercept_rows(spec, structure, opt.x, arr, codes, G,
                                                      list(engine.fixed_x_idx), rob),
                           info={"se": "robust.cluster", "test": "yuan.bentler.mplus",
                                 "n_clusters": int(G)},
                           lead_warnings=lead, inadmissible=bool(lead), warnings=notes,
                           identification=ident, data=X)


def _gfi_with_means(S, Sigma, means, fixed_x_idx) -> float:
    """lavaan's GFI with a mean structure (``lav_fit_gfi``): 1 − r'Wr / o'Wo over the
    moments (means, vech S), W = blockdiag(Σ̂⁻¹, ½D'(Σ̂⁻¹⊗Σ̂⁻¹)D); the mean residuals are zero,
    so the means enter through o'Wo only (the fixed-x block of vech S left out as in
    :func:`semcluster.measures.fitmeasures._gfi_vech`)."""
    p = S.shape[0]
    V = np.linalg.inv(Sigma)
    r, c = vech_indices(p)
    fx = set(fixed_x_idx)
    keep = np.array([not (i in fx and j in fx) for i, j in zip(r, c)])
    # ½D'(V⊗V)D on vech elements: ½(v_ik v_jl + v_il v_jk) times the duplication weights
    W = 0.5 * (V[np.ix_(r, r)] * V[np.ix_(c, c)] + V[np.ix_(r, c)] * V[np.ix_(c, r)])
    mult = np.where(r == c, 1.0, 2.0)
    W = W * np.outer(mult, mult) / 2.0
    W = W[np.ix_(keep, keep)]
    o = S[r, c][keep]
    e = o - Sigma[r, c][keep]
    return float(1 - (e @ W @ e) / (o @ W @ o + means @ V @ means))


def _intercept_rows(spec, structure, x, X, codes, G, fx_idx, rob: RobustML) -> pd.DataFrame:
    """lavaan's intercept rows of the clustered fit (its saturated mean structure): ν of the
    non-fixed-x variables with cluster-robust SEs, and the latent means fixed at 0.

    The fit's means are μ̂_y = x̄_y; the sandwich over (θ, μ_y) has a block-diagonal A, and
    the clustered B couples the blocks; ν = ν(θ, μ) and its SEs follow by the delta method
    (:func:`semcluster.estimation.fiml._intercepts`, the same map as robust FIML's)."""
    from types import SimpleNamespace

    from .fiml import _intercepts

    n, p = X.shape
    q = structure.q
    ys = [j for j in range(p) if j not in set(fx_idx)]
    y_names = [spec.observed[j] for j in ys]
    xbar = X.mean(axis=0)
    d = X - xbar
    Sigma, Delta = structure.jacobian_vech(x)
    Sinv = np.linalg.inv(Sigma)
    sol = SimpleNamespace(x=x, nu=xbar[ys], mu=xbar)
    nu, J_nu, J_std, sd = _intercepts(structure, sol, ys, fx_idx)
    if rob.vcov_ok:
        sc = np.hstack([_score_rows(Sinv, d) @ Delta, _mean_scores(Sinv, d, ys)])
        C = cluster_sums(sc, codes, G)
        Ainv = np.zeros((q + len(ys),) * 2)
        Ainv[:q, :q] = invert_information(rob.observed_information)[0]
        Ainv[q:, q:] = np.linalg.inv(n * Sinv[np.ix_(ys, ys)])
        V = Ainv @ (C.T @ C) @ Ainv
        se_nu = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J_nu, V, J_nu), 0, None))
        se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J_std, V, J_std), 0, None))
    else:
        se_nu = se_std = np.full(len(ys), np.nan)
    lat = list(spec.latent)
    zeros = np.zeros(len(lat))          # latent means fixed at zero, listed as lavaan does
    return pd.DataFrame({"lhs": y_names + lat, "op": "~1", "rhs": "", "label": "",
                         "est": np.r_[nu, zeros], "se": np.r_[se_nu, zeros],
                         "std_lv": np.r_[nu, zeros], "std_all": np.r_[nu / sd, zeros],
                         "se_std_all": np.r_[se_std, zeros],
                         "free": np.r_[np.arange(q + 1, q + len(ys) + 1), np.zeros(len(lat))
                                       ].astype(int)})


def _with_mean_structure(fm, spec, rob: RobustML, n: int, S, Sigma, means):
    """lavaan's clustered fit has a (saturated) mean structure: npar counts the intercepts of
    the non-fixed-x variables, and AIC, BIC, the h1/h0 scaling factors follow; the residual
    measures (SRMR ...) average over the p means too (their residuals are zero)."""
    from ..measures.fitmeasures import gfi_measures, residual_measures
    from .mlr import equality_count

    fm = fm.copy()
    for k, v in residual_measures(S, Sigma, M=means, Mu=means).items():
        if k in fm.index:
            fm[k] = v
    p = len(spec.observed)
    fx = [spec.observed.index(v) for v in spec.fixed_x]
    for k, v in gfi_measures(_gfi_with_means(S, Sigma, means, fx), n_moments(p, means=True),
                             int(fm["df"])).items():
        if k in fm.index:
            fm[k] = v
    p, nx = len(spec.observed), len(spec.fixed_x)
    k = float(fm["npar"]) + (p - nx)
    fm["npar"] = k
    ll = float(fm["logl"])
    fm["aic"] = -2 * ll + 2 * k
    fm["bic"] = -2 * ll + np.log(n) * k
    if "bic2" in fm.index:
        fm["bic2"] = -2 * ll + np.log((n + 2) / 24) * k
    if "ecvi" in fm.index:
        fm["ecvi"] = float(fm["chisq"]) / n + 2 * k / n
    fm["scaling_factor_h1"] = rob.trace_h1 / n_moments(p, n_fixed_x=nx, means=True)
    fm["scaling_factor_h0"] = ((rob.trace_h1 - rob.trace_ugamma)
                               / (k + equality_count(spec)))
    return fm