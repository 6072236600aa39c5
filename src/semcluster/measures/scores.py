"""Factor scores: lavaan's ``lavPredict(fit, type = "lv")`` for continuous items.

The model is written in RAM form (:class:`semcluster.model.standardized.RAM`): with the fitted
parameters, Σ is the model-implied covariance matrix of the observed items, Φ = Cov(η) the
model-implied (total) covariance matrix of the latent variables — for a model with structural
paths the covariance that the paths imply, not the residual variances — and Λ the direct
loadings (item ← latent variable).  Scores of a respondent with answers y (lavaan 0.6,
``lav_predict_eta_normal`` and ``lav_predict_eta_bartlett``):

* ``regression`` (Thurstone; the conditional expectation E[η | y]):
  η̂ = μ_η + Φ Λᵀ Σ⁻¹ (y − μ_y);
  standard error: the square root of the diagonal of Φ − Φ Λᵀ Σ⁻¹ Λ Φ.
* ``bartlett`` (weighted least squares, unbiased given η):
  η̂ = μ_η + (Λᵀ Σ⁻¹ Λ)⁻ Λᵀ Σ⁻¹ (y − μ_y), which equals (Λᵀ Θ⁻¹ Λ)⁻¹ Λᵀ Θ⁻¹ (y − μ_y) but
  does not need Θ to be invertible (lavaan writes it with Σ and a generalised inverse);
  standard error: the square root of the diagonal of (Λᵀ Σ⁻¹ Λ)⁻ − Φ = (Λᵀ Θ⁻¹ Λ)⁻¹.

As lavaan, a standard error whose variance is below 1e-5 is reported as missing (NaN).

Means: a fit with a mean structure (FIML) centres with the model-implied means (μ_y = ν + Λ μ_η
from the intercepts, μ_η = 0).  A complete-data fit without mean structure centres the items at
their sample means (lavaan's ``computeEY`` takes the sample means when the model has no
intercepts) and μ_η = 0.

Observed variables in regressions (a covariate predicting a latent variable, an observed
outcome of a latent variable): as lavaan, each becomes a "dummy" latent variable measured
without error by its item; the formulas run over the latent variables and the dummies, with
lavaan's loadings for them (an observed outcome's row of Λ is its regression on the latent
variables, ``computeLAMBDA``) and lavaan's means without mean structure (``computeEETA`` /
``computeEY``: a covariate's dummy at its sample mean, latent variables at the means their
regressions on covariates imply), and the dummies' columns are dropped.  An item that is both
an indicator and in a regression is refused.

Missing answers (FIML fits): each respondent is scored from the items they answered, pattern by
pattern — the formulas above with Λ, Σ and y restricted to the answered items, as lavaan does
for ``missing = "ml"``.  With Bartlett's method a latent variable none of whose items was
answered gets no score (NaN), as in lavaan.  A respondent with no answer at all, or (with
exogenous covariates, lavaan's fixed.x) with a missing covariate, is not used by the fit and
gets NaN.  A fit to complete data scores only complete rows (NaN for a row with a missing
answer: lavaan's listwise deletion).  ``res.predict()`` on the fit's own data leaves the rows
the fit did not use out altogether, so that it has lavaan's ``lavPredict(fit)`` rows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, InputTypeError, OptionError

METHODS = ("regression", "bartlett")

#: lavaan reports a score's standard error as missing when its variance is below this
SE_VARIANCE_MIN = 1e-5

_METHOD_NAMES = {"regression": "regression", "ebm": "regression", "thurstone": "regression",
                 "bartlett": "bartlett", "bartlet": "bartlett", "ml": "bartlett"}


def method_name(method) -> str:
    """Canonical method name (``"regression"`` or ``"bartlett"``), or a clear error."""
    if not isinstance(method, str):
        raise InputTypeError(f"method must be 'regression' or 'bartlett' (a string), not "
                             f"{type(method).__name__} {method!r}")
    m = _METHOD_NAMES.get(method.strip().lower())
    if m is None:
        raise OptionError(f"unknown factor-score method '{method}'; use 'regression' "
                          f"(lavaan's default, Thurstone) or 'bartlett'")
    return m


def _ginv(M: np.ndarray) -> np.ndarray:
    """Moore-Penrose inverse with MASS::ginv's tolerance (sqrt(eps) of the largest singular
    value), so that a latent variable without answered items drops out as in lavaan."""
    return np.linalg.pinv(M, rcond=np.sqrt(np.finfo(float).eps))


class ScoreModel:
    """The matrices factor scores need, from a fitted :class:`~semcluster.result.result.SEMResult`.

    lavaan's LISREL form: an observed variable in a regression (an exogenous covariate, or an
    observed outcome) becomes a "dummy" latent variable measured without error by itself; the
    scores are computed over the latent variables and the dummies, and the dummies' columns
    are dropped.

    Attributes
    ----------
    latent, observed : list of str
    eta : list of str             latent variables, then the dummies (observed names)
    Lambda : ndarray (p, m*)      loadings (a dummy loads 1 on its own item)
    Lambda_scores : ndarray       the loadings of the score formulas (lavaan's computeLAMBDA:
                                  an observed outcome's row is its regression row)
    Phi : ndarray (m*, m*)        model-implied covariance of eta
    Sigma : ndarray (p, p)        model-implied covariance of the items
    meanstructure : bool          the fit estimated intercepts (FIML)
    fiml : bool                   the fit used FIML (score incomplete rows pattern by pattern)
    """

    def __init__(self, res):
        from ..model.standardized import RAM

        spec = res.spec
        if res.estimator == "WLSMV":
            raise OptionError("factor scores for ordinal items (WLSMV fits) are not supported: "
                              "lavaan scores them by EBM/ML over the thresholds, which "
                              "semcluster does not have; fit the items as continuous (ML or "
                              "MLR) to get regression or Bartlett scores")
        self.latent = list(spec.latent)
        if not self.latent:
            raise OptionError(f"model {spec.name} has no latent variables (no '=~' line): there "
                              f"are no factor scores to compute")
        self.observed = list(spec.observed)
        pt = spec.partable
        regs = pt[pt.op == "~"]
        indicators = set(pt.loc[pt.op == "=~", "rhs"])
        in_paths = set(regs.lhs) | set(regs.rhs)
        self.dummies = [v for v in self.observed if v in in_paths]
        both = [v for v in self.dummies if v in indicators]
        if both:
            raise OptionError(f"factor scores for a model where an indicator is also in a "
                              f"regression ({', '.join(both)}) are not supported")
        ram = RAM(spec, fixed_x_cov=res.sample_cov)
        x = np.asarray(res.info["x"], dtype=float)
        A, P, _ = ram.matrices(x)
        self.eta = self.latent + self.dummies
        eta = [ram.ix[v] for v in self.eta]
        obs = [ram.ix[v] for v in self.observed]
        p, m = len(obs), len(eta)
        Lambda = np.zeros((p, m))
        k = len(self.latent)
        Lambda[:, :k] = A[np.ix_(obs, eta[:k])]
        self.dummy_ov = np.array([self.observed.index(v) for v in self.dummies], dtype=int)
        self.dummy_lv = np.arange(k, m, dtype=int)
        Lambda[self.dummy_ov, :] = 0.0
        Lambda[self.dummy_ov, self.dummy_lv] = 1.0
        self.Lambda = Lambda
        self.B = A[np.ix_(eta, eta)]
        # exogenous dummies (lavaan's ov.x dummies): no arrow points at them
        self.x_dummy = [v for v in self.dummies if not np.any(A[ram.ix[v], :] != 0)]
        # the loadings the score formulas use (lavaan's computeLAMBDA): an observed outcome's
        # row is its regression on eta, not the 1 on its own dummy
        L = Lambda.copy()
        for j, v in zip(self.dummy_lv, self.dummies):
            if v not in self.x_dummy:
                L[self.observed.index(v), :] = self.B[j, :]
        self.Lambda_scores = L
        IA = np.linalg.inv(np.eye(ram.m) - A)
        C = IA @ P @ IA.T
        self.Phi = C[np.ix_(eta, eta)]
        self.Sigma = C[np.ix_(obs, obs)]
        self.fiml = res.info.get("missing") == "fiml"
        # mean structure: intercept rows of the estimates (FIML fits have them)
        e = res.estimates
        ints = e[e.op == "~1"]
        self.meanstructure = bool(len(ints))
        if self.meanstructure:
            alpha = np.zeros(ram.m)
            for r in ints.itertuples():
                if r.lhs in ram.ix:
                    alpha[ram.ix[r.lhs]] = float(r.est)
            means = IA @ alpha           # means of all variables: (I − A)⁻¹ (α, ν)
            self._eeta = means[eta]
            self._ey = means[obs]

    def means(self, sample_mean: np.ndarray | None):
        """(E[eta], E[y]): the model's, or without mean structure lavaan's ``computeEETA`` and
        ``computeEY`` from the sample means (latent means zero, dummies at their means)."""
        if self.meanstructure:
            return self._eeta, self._ey
        m = len(self.eta)
        alpha = np.zeros(m)
        IB = np.linalg.inv(np.eye(m) - self.B)
        if len(self.dummies):
            LIB = self.Lambda @ IB
            alpha[self.dummy_lv] = np.linalg.solve(
                LIB[np.ix_(self.dummy_ov, self.dummy_lv)], sample_mean[self.dummy_ov])
        eeta = IB @ alpha
        if self.x_dummy:
            nu = sample_mean - self.Lambda @ eeta
            nu[self.dummy_ov] = 0.0
        else:
            # lavaan 0.6 (.internal_get_NU): the sample means, dummies included
            nu = sample_mean.copy()
        return eeta, nu + self.Lambda @ eeta


def _weights(sm: ScoreModel, method: str, obs_idx):
    """Score weights W (m* × p_o) and the score covariance matrix for the items obs_idx."""
    L = sm.Lambda_scores[obs_idx, :]
    Sigma_inv = _ginv(sm.Sigma[np.ix_(obs_idx, obs_idx)])
    Phi = sm.Phi
    if method == "regression":
        W = Phi @ L.T @ Sigma_inv
        return W, Phi - W @ L @ Phi
    M = _ginv(L.T @ Sigma_inv @ L)
    W = M @ L.T @ Sigma_inv
    # a latent variable with no answered item: its row of weights is zero -> no score
    W = W.copy()
    W[np.all(W == 0, axis=1), :] = np.nan
    return W, M - Phi


def _se(V: np.ndarray) -> np.ndarray:
    d = np.diag(V).copy()
    with np.errstate(invalid="ignore"):
        d[~(d >= SE_VARIANCE_MIN)] = np.nan
        return np.sqrt(d)


def unused_rows(res, data: pd.DataFrame) -> np.ndarray:
    """Rows of ``data`` (model variables as columns) that a fit like ``res`` does not use:
    for FIML, rows with a missing exogenous covariate (lavaan deletes them when fixed.x = TRUE)
    and rows without any answer; otherwise rows with any missing answer (listwise)."""
    Y = data.to_numpy(dtype=float)
    answered = ~np.isnan(Y)
    if res.info.get("missing") != "fiml":
        return ~answered.all(axis=1)
    observed = list(data.columns)
    fx = [observed.index(v) for v in res.spec.fixed_x if v in observed]
    return ~answered.any(axis=1) | ~answered[:, fx].all(axis=1)


def factor_scores(res, data, method: str = "regression", se: bool = False, *,
                  fitted_rows_only: bool = False):
    """Factor scores of every row of ``data`` (see the module docstring for the formulas).

    Parameters
    ----------
    res : SEMResult
        A fit (ML, MLR, GLS, FIML).
    data : DataFrame or path
        Rows to score, with the model's observed variables as columns (other columns are
        ignored).  The frame :func:`semcluster.read_survey` returns is used as it is (already
        recoded); a raw frame or file is taken as it is (no mapping, reverse coding or missing
        codes are applied: pass the prepared frame when the fit used them).
    method : {"regression", "bartlett"}
    se : bool
        Also return the scores' standard errors.
    fitted_rows_only : bool
        Leave out the rows the fit could not use (:func:`unused_rows`), as lavaan's
        ``lavPredict(fit)`` does (what ``res.predict()`` asks for when it scores the fit's own
        data).  Otherwise those rows stay, aligned with ``data``, with no score (NaN); a FIML
        fit's rows with a missing covariate are then named in a warning.

    Returns
    -------
    DataFrame, or (DataFrame, DataFrame) when ``se``
        One row per row of ``data`` (same index; the rows the fit used when
        ``fitted_rows_only``), one column per latent variable (the model's order).  NaN where
        lavaan gives no score (see the module docstring).
    """
    method = method_name(method)
    if not isinstance(se, (bool, np.bool_)):
        raise InputTypeError(f"se must be True or False, not {se!r}")
    sm = ScoreModel(res)
    X = _score_frame(data, sm.observed)
    unused = unused_rows(res, X)
    if fitted_rows_only:
        X = X[~unused]
    elif sm.fiml and res.spec.fixed_x:
        no_x = unused & ~np.isnan(X.to_numpy(dtype=float)).all(axis=1)
        if no_x.any():
            import warnings

            warnings.warn(f"{int(no_x.sum())} row(s) with a missing value in the exogenous "
                          f"covariate(s) {', '.join(res.spec.fixed_x)} get no factor score: "
                          f"the FIML fit left them out (lavaan's fixed.x = TRUE)",
                          UserWarning, stacklevel=3)
    Y = X.to_numpy(dtype=float, copy=True)
    if not fitted_rows_only:
        Y[unused] = np.nan          # rows the fit left out get no score
    n, p = Y.shape
    m = len(sm.latent)
    answered = ~np.isnan(Y)
    sample_mean = None
    if not sm.meanstructure:
        complete = answered.all(axis=1)
        if not complete.any():
            raise DataError("no row of the data has an answer to every item: a fit without "
                            "mean structure centres at the sample means of complete rows")
        sample_mean = Y[complete].mean(axis=0)
    eeta, ey = sm.means(sample_mean)
    Yc = Y - ey
    FS = np.full((n, m), np.nan)
    SE = np.full((n, m), np.nan)
    if sm.fiml:
        keys = np.packbits(answered, axis=1)
        patterns = {}
        for i in range(n):
            patterns.setdefault(keys[i].tobytes(), []).append(i)
        groups = [np.array(rows) for rows in patterns.values()]
    else:
        groups = [np.flatnonzero(answered.all(axis=1))]
    for rows in groups:
        if len(rows) == 0:
            continue
        o = np.flatnonzero(answered[rows[0]])
        if len(o) == 0:
            continue                 # no answer at all: lavaan drops the row
        W, V = _weights(sm, method, o)
        FS[rows] = (Yc[np.ix_(rows, o)] @ W.T + eeta)[:, :m]
        SE[rows] = _se(V)[:m]
    scores = pd.DataFrame(FS, index=X.index, columns=sm.latent)
    if se:
        return scores, pd.DataFrame(SE, index=X.index, columns=sm.latent)
    return scores


def _score_frame(data, observed) -> pd.DataFrame:
    from ..data.survey import load_data

    if isinstance(data, (str, Path)):
        data = load_data(data)
    if not isinstance(data, pd.DataFrame):
        raise InputTypeError(f"data must be a DataFrame or a data file, not "
                             f"{type(data).__name__}")
    lacking = [v for v in observed if v not in data.columns]
    if lacking:
        raise DataError(f"the data to score lack the model variable(s) {', '.join(lacking)}")
    X = data[observed]
    bad = [v for v in observed if not pd.api.types.is_numeric_dtype(X[v])]
    if bad:
        raise DataError(f"the data to score have non-numeric values in {', '.join(bad)}")
    return X.astype(float)
