"""Robust maximum likelihood (MLR) for complete, non-normal continuous data.

The estimates are the ML estimates.  What changes is what is claimed about them:

* **Standard errors** (Huber 1967, White 1982): the sandwich
  V = A⁻¹ B A⁻¹, with A the observed information (the Hessian of −log L at the estimate) and B
  the sum of outer products of the casewise scores
  s_i = ∂ log L_i/∂θ = ½ [tr(Σ⁻¹ d_i d_iᵀ Σ⁻¹ ∂Σ/∂θ) − tr(Σ⁻¹ ∂Σ/∂θ)], d_i = x_i − x̄.
  This is lavaan's ``se = "robust.huber.white"`` with ``information = "observed"`` and
  ``information.meat = "first.order"`` (its defaults for ``estimator = "MLR"``).
* **Test statistic** (Yuan & Bentler 2000, in the form Mplus uses; lavaan's
  ``test = "yuan.bentler.mplus"``): T_YB = T_ML / c with
  c = [tr(A₁⁻¹B₁) − tr(A₀⁻¹B₀)] / df, where A₁, B₁ are the information and first-order
  matrices of the saturated model at the sample moments (A₁ = ½ D'(S⁻¹⊗S⁻¹)D, B₁ = mean
  outer product of ∂ log L_i/∂vech Σ), A₀ the observed information of the model and
  B₀ = Δ'B₁(Σ̂)Δ its first-order information (Δ = ∂vech Σ/∂θ').
  The mean structure is saturated and drops out of both traces.

Checked against lavaan 0.6.14 ``cfa(..., estimator = "MLR")`` in tests/test_estimators_mlr.py
(fixtures and R script in tests/fixtures/estimators/).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..model.core import normal_weight
from ..numerics import n_moments
from ._structure import (CovarianceStructure, numerical_jacobian, invert_information,
                         vech_indices)

ESTIMATOR = "MLR"


@dataclass(frozen=True)
class RobustML:
    """Huber-White covariance matrix and Yuan-Bentler scaling of an ML solution.

    Attributes
    ----------
    vcov : ndarray (q, q)
        Robust covariance matrix of the free parameters (NaN when A is singular).
    vcov_ok : bool
    scaling_factor, baseline_scaling_factor : float
        c and c_B: T_ML / c is the scaled statistic.
    trace_ugamma : float
        tr(UΓ) = c · df.
    observed_information : ndarray (q, q)
        A, the Hessian of −log L (whole sample).
    trace_h1 : float
        tr(A₁⁻¹B₁) of the saturated model (tr(A₀⁻¹B₀) of the model is trace_h1 − trace_ugamma);
        over the moments and the free parameters these are lavaan's ``scaling.factor.h1`` and
        ``scaling.factor.h0``.
    """

    vcov: np.ndarray
    vcov_ok: bool
    scaling_factor: float
    baseline_scaling_factor: float
    trace_ugamma: float
    observed_information: np.ndarray
    trace_h1: float = np.nan


def _score_rows(Sinv: np.ndarray, d: np.ndarray) -> np.ndarray:
    """∂ log L_i / ∂vech(Σ) for every row (N × p*), lavaan's vech order."""
    p = Sinv.shape[0]
    r, c = vech_indices(p)
    u = d @ Sinv                                   # rows Σ⁻¹ d_i
    M = u[:, r] * u[:, c] - Sinv[r, c][None, :]    # (Σ⁻¹dd'Σ⁻¹ − Σ⁻¹) at the vech cells
    # derivative w.r.t. an off-diagonal σ_ij counts both (i,j) and (j,i)
    return np.where(r == c, 0.5, 1.0)[None, :] * M


#: ½ D'(Σ⁻¹ ⊗ Σ⁻¹)D per observation: the saturated model's expected information
_h1_expected_information = normal_weight


def ml_gradient(structure: CovarianceStructure, S: np.ndarray):
    """Gradient of ½[log|Σ| + tr(SΣ⁻¹)] (per observation) as a function of θ."""
    def grad(x):
        Sigma, D = structure.jacobian(x)
        Si = np.linalg.inv(Sigma)
        W = Si - Si @ S @ Si
        return 0.5 * np.einsum("ij,kji->k", W, D)
    return grad


def observed_information(structure: CovarianceStructure, x: np.ndarray, S: np.ndarray,
                         n: int) -> np.ndarray:
    """Hessian of −log L at x (whole sample): N × ∂²F/∂θ∂θ', F = ½[log|Σ| + tr(SΣ⁻¹)].

    Numerical differentiation (central differences) of the analytic gradient, as lavaan's
    ``observed.information = "hessian"`` does.
    """
    H = numerical_jacobian(ml_gradient(structure, S), x, rel_step=1e-6)
    return n * (H + H.T) / 2


def x_vech_mask(p: int, fixed_x_idx=()) -> np.ndarray:
    """Boolean mask of the vech elements that are *not* (co)variances among fixed-x covariates.

    lavaan (``lav_test_yuan_bentler_trace``) removes those elements from the saturated
    model's information matrices: with ``fixed.x = TRUE`` they are not estimated.
    """
    r, c = vech_indices(p)
    fx = np.zeros(p, dtype=bool)
    fx[list(fixed_x_idx)] = True
    return ~(fx[r] & fx[c])


def h1_trace(X: np.ndarray, fixed_x_idx=()) -> float:
    """tr(A₁⁻¹B₁) of the saturated model at the sample moments (the h1 part of c·df);
    the (co)variances among fixed-x covariates are left out of A₁ and B₁."""
    n = X.shape[0]
    d = X - X.mean(axis=0)
    S = d.T @ d / n
    g = _score_rows(np.linalg.inv(S), d)
    B1 = g.T @ g / n
    A1 = _h1_expected_information(S)
    keep = x_vech_mask(X.shape[1], fixed_x_idx)
    return float(np.trace(np.linalg.solve(A1[np.ix_(keep, keep)], B1[np.ix_(keep, keep)])))


def _h0_trace(Sigma: np.ndarray, X: np.ndarray, Delta: np.ndarray, A0: np.ndarray) -> float:
    n = X.shape[0]
    d = X - X.mean(axis=0)
    g = _score_rows(np.linalg.inv(Sigma), d)
    B0 = Delta.T @ (g.T @ g / n) @ Delta
    return float(np.trace(np.linalg.solve(A0 / n, B0)))


def robust_ml(structure: CovarianceStructure, X: np.ndarray, x: np.ndarray,
              fixed_x_idx=()) -> RobustML:
    """Huber-White covariance and Yuan-Bentler scaling factors at the ML estimate ``x``.

    Parameters
    ----------
    structure : CovarianceStructure
    X : ndarray (N, p)
        Complete data, columns in ``structure.observed`` order.
    x : ndarray (q,)
        ML estimate.
    fixed_x_idx : sequence of int
        Columns of the exogenous observed covariates (lavaan's ``fixed.x``): their
        (co)variances are held at the sample values (``structure`` must be built with
        ``fixed_x_cov``), are not parameters, and are left out of the saturated model and the
        degrees of freedom, as lavaan does.
    """
    X = np.asarray(X, dtype=float)
    try:
        with np.errstate(all="ignore"):
            return _robust_ml(structure, X, x, list(fixed_x_idx))
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, FloatingPointError):
        # extreme values or a degenerate solution: no robust figures rather than wrong ones
        q = structure.q
        return RobustML(vcov=np.full((q, q), np.nan), vcov_ok=False, scaling_factor=np.nan,
                        baseline_scaling_factor=np.nan, trace_ugamma=np.nan,
                        observed_information=np.full((q, q), np.nan))


def _robust_ml(structure, X, x, fixed_x_idx) -> RobustML:
    n, p = X.shape
    nx = len(fixed_x_idx)
    d = X - X.mean(axis=0)
    S = d.T @ d / n
    Sigma, Delta = structure.jacobian_vech(x)
    A = observed_information(structure, x, S, n)
    g = _score_rows(np.linalg.inv(Sigma), d)          # N × p*
    scores = g @ Delta                                # N × q
    B = scores.T @ scores
    Ainv, ok = invert_information(A, symmetrize=True)
    vcov = Ainv @ B @ Ainv if ok else np.full(A.shape, np.nan)

    df = n_moments(p, n_fixed_x=nx) - structure.q
    tr1 = h1_trace(X, fixed_x_idx)
    if ok and df > 0:
        trace = tr1 - _h0_trace(Sigma, X, Delta, A)
        c = trace / df
    else:
        trace = c = np.nan
    # baseline (independence) model: Σ_B = diag(S), parameters the p variances; the model is
    # linear in them, so its observed information is Δ_B' A₁(Σ_B) Δ_B with A₁ the observed
    # saturated information ½D'(Σ⁻¹⊗Σ⁻¹SΣ⁻¹ + Σ⁻¹SΣ⁻¹⊗Σ⁻¹ − Σ⁻¹⊗Σ⁻¹)D, which at the
    # diagonal optimum reduces to diag(1/(2 s_jj²)). With fixed-x covariates the baseline
    # keeps their sample (co)variances and frees only the other variances (lavaan's
    # independence model with fixed.x).
    Sigma_b, Delta_b, A0_b, df_b = baseline_design(S, n, fixed_x_idx)
    c_b = (tr1 - _h0_trace(Sigma_b, X, Delta_b, A0_b)) / df_b if df_b > 0 else np.nan
    return RobustML(vcov=vcov, vcov_ok=bool(ok and np.all(np.isfinite(vcov))),
                    scaling_factor=float(c), baseline_scaling_factor=float(c_b),
                    trace_ugamma=float(trace), observed_information=A, trace_h1=tr1)


def fit(spec, X: pd.DataFrame, *, report=None, estimator=None):
    """Fit a model by ML and report robust (MLR) standard errors and scaled statistics.

    Parameters
    ----------
    spec : ModelSpec
    X : DataFrame
        Complete data of the model's observed variables (as :func:`semcluster.data.survey.prepare_data`
        returns with ``missing="listwise"``).
    report : DataReport, optional

    Returns
    -------
    SEMResult
        ``estimator == "MLR"``; ``se`` (and z, p-values, intervals, ``se_std_all``, defined
        parameters) from the sandwich; ``fit_measures`` adds lavaan's ``chisq_scaled``,
        ``chisq_scaling_factor``, ``cfi_scaled`` ... ``rmsea_robust`` to the ML ones.
    """
    from .engine import MLEngine
    from ..data.survey import sample_covariance
    from ..measures.fitmeasures import fit_measures
    from ..result.builder import assemble_result

    from .identification import check_identification

    ident = check_identification(spec)
    given = X                           # the rows given, kept for predict()
    X = X[spec.observed]
    if X.isna().to_numpy().any():
        raise EstimationError("mlr.fit needs complete data; for missing answers use robust FIML "
                              "(estimators.fiml.fit(..., robust=True), or estimate(..., "
                              "estimator='MLR', missing='fiml'))")
    n = len(X)
    S = sample_covariance(X)
    engine = MLEngine(spec)
    engine.load(S, n, X)
    opt = engine.fit()
    structure = CovarianceStructure.of(spec)
    structure.set_fixed_x(S.loc[spec.observed, spec.observed].to_numpy())
    rob = robust_ml(structure, X.to_numpy(dtype=float), opt.x, engine.fixed_x_idx)
    obs = engine.observed
    ml_measures = fit_measures(S.loc[obs, obs].to_numpy(), engine.implied(opt.x), n,
                               spec.n_free, fixed_x_idx=engine.fixed_x_idx)
    measures, notes = scaled_fit_measures(ml_measures, spec, rob, n)
    lead = []
    if not rob.vcov_ok and ident.identified:
        lead.append("the robust (sandwich) standard errors could not be computed: the "
                    "information or score matrices are numerically singular (extreme values in "
                    "the data, or a degenerate solution); no standard errors are given")
    return assemble_result(spec, engine, opt.x, S, n, converged=opt.converged,
                           message=opt.message, report=report, estimator=estimator or ESTIMATOR,
                           vcov=rob.vcov, vcov_ok=rob.vcov_ok, measures=measures,
                           info={"test": "yuan.bentler.mplus", "se": "robust.huber.white"},
                           lead_warnings=lead, inadmissible=bool(lead), warnings=notes,
                           identification=ident, data=given)


def scaled_fit_measures(fm, spec, rob: RobustML, n: int):
    """lavaan's ML fit measures ``fm`` with its scaled/robust ones added (Yuan-Bentler test),
    in lavaan's order (:func:`semcluster.measures.fitmeasures.lavaan_measure_names`), and the warnings
    they raise."""
    from ..measures.fitmeasures import in_lavaan_order

    c = rob.scaling_factor
    values = dict(fm)
    p, nx = len(spec.observed), len(spec.fixed_x)
    values.update(yuan_bentler_measures(fm, rob, n, n_moments=n_moments(p, n_fixed_x=nx),
                                        n_equalities=equality_count(spec)))
    fm = in_lavaan_order(values, scaled=True, robust=True, yuan_bentler=True)
    notes = []
    if not np.isfinite(c) or c <= 0:
        notes.append("the Yuan-Bentler scaling factor could not be computed (information "
                     "matrix singular or df = 0); scaled statistics are not available")
    return fm, notes


def baseline_design(S: np.ndarray, n: int, fixed_x_idx=()):
    """The baseline (independence) model at its optimum for the scaled baseline statistic:
    Σ_B = diag(S) (the fixed-x covariates' block kept at S), the derivative Δ_B of vech Σ_B by
    the free variances, its observed information A₀ = n·diag(1/(2 s_jj²)) and its df.
    Returns (Σ_B, Δ_B, A₀, df_B)."""
    p = S.shape[0]
    nx = len(fixed_x_idx)
    r, cix = vech_indices(p)
    ys = [j for j in range(p) if j not in set(fixed_x_idx)]
    pos = {(i, j): k for k, (i, j) in enumerate(zip(r, cix))}
    Delta_b = np.zeros((len(r), len(ys)))
    for k, j in enumerate(ys):
        Delta_b[pos[(j, j)], k] = 1.0
    Sigma_b = np.diag(np.diag(S))
    if nx:
        ix = np.ix_(list(fixed_x_idx), list(fixed_x_idx))
        Sigma_b[ix] = S[ix]
    A0_b = n * np.diag(1.0 / (2.0 * np.diag(S)[ys] ** 2))
    df_b = n_moments(p, n_fixed_x=nx) - len(ys)
    return Sigma_b, Delta_b, A0_b, df_b


def equality_count(spec) -> int:
    """How many equality constraints tie the model's free parameters together (shared labels,
    ``a == b``): lavaan 0.6.14 keeps each such parameter free with a constraint row, so its
    free-parameter count (``nx.free``) is npar plus this number."""
    free = spec.partable["free"]
    free = free[free > 0]
    return int(len(free) - free.nunique())


def yuan_bentler_measures(fm, rob: RobustML, n: int, *, n_moments: int,
                          n_equalities: int = 0, robust: bool = True) -> dict:
    """The measures of a Yuan-Bentler scaled test: scaled statistics, every ``*_scaled``
    index (and the ``*_robust`` ones unless ``robust=False``), and lavaan's
    ``scaling_factor_h1`` = tr(A₁⁻¹B₁)/(sample moments, :func:`semcluster.numerics.n_moments`),
    ``scaling_factor_h0`` = tr(A₀⁻¹B₀)/(npar + n_equalities), lavaan's ``nx.free``, the
    free parameters before the equality constraints (``lav_test_yuan_bentler_mplus``)."""
    from ..measures.scaled import scaled_measures

    c, cb = rob.scaling_factor, rob.baseline_scaling_factor
    out = scaled_measures(fm, chisq_scaled=float(fm["chisq"]) / c, df_scaled=float(fm["df"]),
                          scaling_factor=c,
                          baseline_chisq_scaled=float(fm["baseline_chisq"]) / cb,
                          baseline_df_scaled=float(fm["baseline_df"]),
                          baseline_scaling_factor=cb, n=n, kind="yuan.bentler.mplus",
                          trace_ugamma=rob.trace_ugamma, robust=robust)
    out["scaling_factor_h1"] = rob.trace_h1 / n_moments
    out["scaling_factor_h0"] = ((rob.trace_h1 - rob.trace_ugamma)
                                / (float(fm["npar"]) + n_equalities))
    return out
