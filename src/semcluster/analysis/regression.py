"""Standardized OLS regression and SPSS-style stepwise selection from a correlation matrix.

A published correlation matrix and N determine the standardized regression completely
(Cohen, Cohen, West & Aiken 2003, ch. 3):

    β = R_xx⁻¹ r_xy,   R² = βᵀ r_xy,   SE(β_j) = √((1 − R²)/(N − k − 1) · [R_xx⁻¹]_jj),
    t_j = β_j / SE(β_j) on N − k − 1 df,   F = (R²/k) / ((1 − R²)/(N − k − 1)),
    adjusted R² = 1 − (1 − R²)(N − 1)/(N − k − 1).

Stepwise selection follows SPSS's REGRESSION /METHOD=STEPWISE with its default criteria
(PIN = .05, POUT = .10): at each step the candidate with the smallest p of its F-to-enter
(the partial F of adding it) enters if p < PIN; then the entered variable with the largest p of
its F-to-remove leaves if p > POUT.  For a variable left out SPSS prints "Beta In", the
standardized coefficient it would have if it entered next; this is what the paper printed in
parentheses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..result.protocol import ResultProtocol, clean, records


@dataclass(frozen=True, eq=False)
class RegressionResult(ResultProtocol):
    """A standardized regression: coefficient table and model statistics.

    The result protocol (:mod:`semcluster.result.protocol`) gives ``summary()``, ``to_frame()`` (the
    coefficients), ``to_dict()``, ``to_json()``/``from_json()``, pickling and ``==``.
    """

    outcome: str
    coefficients: pd.DataFrame      # index predictor: beta se t pvalue
    r2: float
    adj_r2: float
    F: float
    F_pvalue: float
    n: int
    k: int
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)  # beta_in t pvalue partial_r
    steps: tuple = ()

    def statistics(self) -> pd.Series:
        """R², adjusted R², F and its p, N and the number of predictors."""
        return pd.Series({"r2": self.r2, "adj_r2": self.adj_r2, "F": self.F,
                          "F_pvalue": self.F_pvalue, "n": self.n, "k": self.k})

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (``beta se t pvalue`` per predictor), a copy."""
        return self.coefficients.copy()

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, **clean(self.statistics().to_dict()),
                "coefficients": records(self.coefficients.reset_index()),
                "excluded": records(self.excluded.reset_index()) if len(self.excluded) else [],
                "steps": clean(self.steps)}

    def summary(self) -> str:
        """Model statistics, coefficients and the predictors left out (stepwise)."""
        fmt = {"float_format": lambda v: f"{v:.3f}"}
        lines = [f"Standardized regression of {self.outcome} (N = {self.n}, k = {self.k}): "
                 f"R² {self.r2:.3f}, adjusted {self.adj_r2:.3f}, F {self.F:.3f} "
                 f"(p {self.F_pvalue:.4g})", self.coefficients.to_string(**fmt)]
        if len(self.excluded):
            lines += ["Excluded (Beta In):", self.excluded.to_string(**fmt)]
        for what, var, p in self.steps:
            lines.append(f"  step: {what} {var} (p {p:.4f})")
        return "\n".join(lines) + "\n"


def _as_corr(R: pd.DataFrame) -> pd.DataFrame:
    A = R.to_numpy(dtype=float)
    if not np.allclose(A, A.T, atol=1e-10):
        raise ValueError("correlation matrix is not symmetric")
    return R


def ols_from_correlations(R: pd.DataFrame, outcome: str, predictors: list[str],
                          n: int) -> RegressionResult:
    """Standardized OLS of ``outcome`` on ``predictors`` from a correlation matrix and N."""
    R = _as_corr(R)
    P = list(predictors)
    k = len(P)
    if k == 0:
        coef = pd.DataFrame(columns=["beta", "se", "t", "pvalue"])
        return RegressionResult(outcome, coef, 0.0, 0.0, np.nan, np.nan, n, 0)
    Rxx = R.loc[P, P].to_numpy(dtype=float)
    rxy = R.loc[P, outcome].to_numpy(dtype=float)
    inv = np.linalg.inv(Rxx)
    beta = inv @ rxy
    r2 = float(beta @ rxy)
    dfe = n - k - 1
    se = np.sqrt(np.clip((1 - r2) / dfe * np.diag(inv), 0, None))
    t = beta / se
    p = 2 * stats.t.sf(np.abs(t), dfe)
    F = (r2 / k) / ((1 - r2) / dfe)
    coef = pd.DataFrame({"beta": beta, "se": se, "t": t, "pvalue": p},
                        index=pd.Index(P, name="predictor"))
    return RegressionResult(outcome=outcome, coefficients=coef, r2=r2,
                            adj_r2=1 - (1 - r2) * (n - 1) / dfe, F=float(F),
                            F_pvalue=float(stats.f.sf(F, k, dfe)), n=n, k=k)


def vif(R: pd.DataFrame, predictors: list[str]) -> pd.Series:
    """Variance inflation factors: the diagonal of the inverse predictor correlation matrix."""
    inv = np.linalg.inv(R.loc[predictors, predictors].to_numpy(dtype=float))
    return pd.Series(np.diag(inv), index=predictors, name="vif")


def _partial_stats(R, outcome, current, cand, n):
    """Beta In, partial r, t and p of adding ``cand`` to the model with ``current``."""
    full = ols_from_correlations(R, outcome, current + [cand], n)
    row = full.coefficients.loc[cand]
    base_r2 = ols_from_correlations(R, outcome, current, n).r2 if current else 0.0
    partial_r2 = (full.r2 - base_r2) / (1 - base_r2)
    partial_r = np.sign(row.beta) * np.sqrt(max(partial_r2, 0.0))
    return row.beta, partial_r, row.t, row.pvalue


def stepwise_from_correlations(R: pd.DataFrame, outcome: str, candidates: list[str], n: int,
                               *, p_enter: float = 0.05, p_remove: float = 0.10,
                               max_steps: int = 50) -> RegressionResult:
    """SPSS-style stepwise selection (see the module docstring).

    The returned result is the final model, with ``excluded`` giving Beta In, partial
    correlation, t and p of each variable left out, and ``steps`` the sequence of entries and
    removals.
    """
    if p_enter >= p_remove:
        pass  # SPSS requires PIN < POUT to avoid cycling; the defaults satisfy it
    current: list[str] = []
    steps = []
    for _ in range(max_steps):
        rest = [c for c in candidates if c not in current]
        if not rest:
            break
        cand = {c: _partial_stats(R, outcome, current, c, n) for c in rest}
        best = min(cand, key=lambda c: cand[c][3])
        if cand[best][3] >= p_enter:
            break
        current.append(best)
        steps.append(("enter", best, float(cand[best][3])))
        fit = ols_from_correlations(R, outcome, current, n)
        worst = fit.coefficients["pvalue"].idxmax()
        if fit.coefficients.loc[worst, "pvalue"] > p_remove:
            current.remove(worst)
            steps.append(("remove", worst, float(fit.coefficients.loc[worst, "pvalue"])))
    final = ols_from_correlations(R, outcome, current, n)
    rest = [c for c in candidates if c not in current]
    ex = pd.DataFrame([dict(zip(("beta_in", "partial_r", "t", "pvalue"),
                                _partial_stats(R, outcome, current, c, n)))
                       for c in rest], index=pd.Index(rest, name="predictor"))
    return RegressionResult(outcome=outcome, coefficients=final.coefficients, r2=final.r2,
                            adj_r2=final.adj_r2, F=final.F, F_pvalue=final.F_pvalue, n=n,
                            k=final.k, excluded=ex, steps=tuple(steps))


def composite_scores(df: pd.DataFrame, items_of: dict) -> pd.DataFrame:
    """Composite (item-mean) scores, one column per construct."""
    return pd.DataFrame({c: df[list(its)].mean(axis=1) for c, its in items_of.items()})


def ols_from_data(df: pd.DataFrame, outcome: str, predictors: list[str]) -> RegressionResult:
    """Standardized OLS on raw scores (listwise complete rows)."""
    sub = df[[outcome] + list(predictors)].dropna()
    return ols_from_correlations(sub.corr(), outcome, list(predictors), len(sub))
