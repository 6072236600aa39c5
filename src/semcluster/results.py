"""The result of a fit: an immutable object of tidy tables, and its one text printer."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InputTypeError
from .protocol import ReadOnlyDict, ResultProtocol
from .spec import ModelSpec

ESTIMATE_COLUMNS = ["lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci_lower",
                    "ci_upper", "std_lv", "std_all", "se_std_all"]
JSON_ESTIMATE_KEYS = ["lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci_lower",
                      "ci_upper", "std_all"]


def _clean(v):
    """JSON-safe scalar (NaN/inf -> None, numpy -> python)."""
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


@dataclass(frozen=True, eq=False)
class SEMResult(ResultProtocol):
    """A fitted model.

    Attributes
    ----------
    spec : ModelSpec
        The model as read.
    estimates : DataFrame
        One row per parameter, lavaan's ``parameterEstimates(standardized=TRUE)`` columns:
        ``lhs op rhs label est se z pvalue ci_lower ci_upper std_lv std_all se_std_all`` plus
        ``free`` (parameter number, 0 when fixed).
    fit_measures : Series
        lavaan's ``fitMeasures()`` names (``chisq df pvalue cfi tli rmsea ... aic bic``).
    r2 : Series
        R² of every endogenous variable.
    converged, admissible : bool
    warnings : tuple of str
        Plain-language problems (non-convergence, negative variances, ...).
    info : dict (read-only)
        Estimator details: ``x`` (free parameter vector), ``optimizer``, ``test``, ``se``...

    Notes
    -----
    The result protocol (:mod:`semcluster.protocol`): ``summary()`` (text), ``to_frame()``
    (the estimates), ``to_dict()``/``to_json()``, ``SEMResult.from_json(text)``; results can be
    pickled, deep-copied and compared with ``==``.
    """

    spec: ModelSpec
    estimates: pd.DataFrame
    fit_measures: pd.Series
    r2: pd.Series
    nobs: int
    converged: bool
    admissible: bool
    warnings: tuple
    estimator: str
    sample_cov: pd.DataFrame
    implied_cov: pd.DataFrame
    latent_cov: pd.DataFrame
    vcov: pd.DataFrame
    data_report: object = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "info", ReadOnlyDict(self.info))

    # -- views --------------------------------------------------------------------------------
    def paths(self) -> pd.DataFrame:
        """The structural regressions (``~`` rows)."""
        e = self.estimates
        return e[e.op == "~"].reset_index(drop=True)

    def loadings(self) -> pd.DataFrame:
        e = self.estimates
        return e[e.op == "=~"].reset_index(drop=True)

    def defined(self) -> pd.DataFrame:
        e = self.estimates
        return e[e.op == ":="].reset_index(drop=True)

    def parameter(self, lhs: str, op: str | None = None, rhs: str | None = None) -> pd.Series:
        """One parameter's row of :attr:`estimates`, by label or by ``lhs op rhs``.

        Parameters
        ----------
        lhs : str
            With ``op`` and ``rhs``: the left-hand side of the parameter (``"IN"`` in
            ``IN ~ CA``). Alone: the parameter's label in the model (``"h1"`` for
            ``IN ~ h1*CA``) or a defined parameter's name (``ind := a*b``).
        op : {"=~", "~", "~~", ":="}, optional
            The operator. A covariance ``a ~~ b`` is also found as ``b ~~ a``.
        rhs : str, optional
            The right-hand side.

        Returns
        -------
        Series
            ``lhs op rhs label est se z pvalue ci_lower ci_upper std_lv std_all se_std_all``.
            Of a label shared by several parameters (an equality constraint), the first.

        Raises
        ------
        KeyError
            No such parameter (the message lists the labels there are).

        Examples
        --------
        >>> res = semcluster.fit("h1_h5")               # doctest: +SKIP
        >>> res.parameter("h1")["std_all"]              # doctest: +SKIP
        >>> res.parameter("IN", "~", "CA")["pvalue"]     # doctest: +SKIP
        """
        e = self.estimates
        if op is None and rhs is None:
            if not isinstance(lhs, str):
                raise InputTypeError(f"parameter() needs a label or (lhs, op, rhs), not "
                                     f"{type(lhs).__name__}")
            hit = e[(e.label == lhs) | ((e.op == ":=") & (e.lhs == lhs))]
            if hit.empty:
                labels = sorted({str(v) for v in e.label if isinstance(v, str) and v})
                raise KeyError(f"no parameter labelled '{lhs}'; labels: "
                               f"{', '.join(labels) or 'none'} (or give lhs, op, rhs)")
            return hit.iloc[0]
        if op is None or rhs is None:
            raise InputTypeError("parameter() needs a label alone, or all of lhs, op and rhs")
        hit = e[(e.lhs == lhs) & (e.op == op) & (e.rhs == rhs)]
        if op == "~~" and hit.empty:
            hit = e[(e.lhs == rhs) & (e.op == op) & (e.rhs == lhs)]
        if hit.empty:
            raise KeyError(f"no parameter {lhs} {op} {rhs}")
        return hit.iloc[0]

    def modindices(self, *, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
        """Modification indices of this fit (lavaan's ``modindices()``).

        Same as :func:`semcluster.modification_indices` ``(self, sort=sort, minimum=minimum)``:
        a DataFrame ``lhs op rhs mi epc sepc_all``, largest MI first when ``sort``, rows with
        MI below ``minimum`` left out.
        """
        from .modindices import modification_indices

        return modification_indices(self, sort=sort, minimum=minimum)

    def residuals(self, type: str = "standardized") -> pd.DataFrame:
        """Residual covariance matrix (lavaan's ``residuals()`` / ``lavResiduals()``).

        Same as :func:`semcluster.residuals` ``(self, type)``; ``type`` is ``"raw"``,
        ``"normalized"`` or ``"standardized"``.
        """
        from .modindices import residuals

        return residuals(self, type)

    def to_frame(self) -> pd.DataFrame:
        """The parameter estimates (a copy of :attr:`estimates`)."""
        return self.estimates.copy()

    # -- output -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-ready dict: converged admissible warnings nobs fit_measures estimates r2."""
        est = [{k: _clean(r[k]) for k in JSON_ESTIMATE_KEYS}
               for _, r in self.estimates.iterrows()]
        return {
            "model": self.spec.name,
            "estimator": self.estimator,
            "converged": bool(self.converged),
            "admissible": bool(self.admissible),
            "warnings": list(self.warnings),
            "nobs": int(self.nobs),
            "fit_measures": {k: _clean(v) for k, v in self.fit_measures.items()},
            "estimates": est,
            "r2": {k: _clean(v) for k, v in self.r2.items()},
        }

    def summary(self, standardized: bool = True) -> str:
        """A lavaan-like text summary."""
        return format_summary(self, standardized=standardized)

    def __repr__(self):
        fm = self.fit_measures
        return (f"<SEMResult {self.spec.name}: N={self.nobs}, chisq={fm['chisq']:.3f}, "
                f"df={int(fm['df'])}, cfi={fm['cfi']:.3f}, rmsea={fm['rmsea']:.3f}, "
                f"converged={self.converged}, admissible={self.admissible}>")


def _f(v, width=9, dec=3):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return " " * (width - 1) + "-" if width else "-"
    return f"{v:{width}.{dec}f}"


def format_summary(res: SEMResult, standardized: bool = True) -> str:
    fm = res.fit_measures
    out = []
    out.append(f"semcluster {res.estimator} fit of model '{res.spec.name}' ({res.spec.source})")
    out.append(f"  converged: {'yes' if res.converged else 'NO'}   "
               f"admissible: {'yes' if res.admissible else 'NO'}   observations: {res.nobs}"
               f"   free parameters: {int(fm['npar'])}")
    for w in res.warnings:
        out.append(f"  WARNING: {w}")
    out.append("")
    test = "DWLS" if res.estimator == "WLSMV" else "ML"
    out.append(f"Model test ({test}):")
    out.append(f"  chi-square {fm['chisq']:.3f}   df {int(fm['df'])}   p-value "
               f"{_f(fm['pvalue'], 0)}")
    out.append(f"  baseline chi-square {fm['baseline_chisq']:.3f}   df {int(fm['baseline_df'])}")
    if "chisq_scaled" in fm.index and math.isfinite(fm["chisq_scaled"]):
        kind = "scaled and shifted" if res.estimator == "WLSMV" else "Yuan-Bentler scaled"
        out.append(f"  {kind} chi-square {fm['chisq_scaled']:.3f}   df "
                   f"{_f(fm.get('df_scaled', fm['df']), 0, 0)}   p-value "
                   f"{_f(fm['pvalue_scaled'], 0)}")
        out.append(f"  robust CFI {_f(fm.get('cfi_robust'), 0)}   TLI "
                   f"{_f(fm.get('tli_robust'), 0)}   RMSEA {_f(fm.get('rmsea_robust'), 0)} "
                   f"[{_f(fm.get('rmsea_ci_lower_robust'), 0)}, "
                   f"{_f(fm.get('rmsea_ci_upper_robust'), 0)}]")
    out.append("")
    out.append("Fit measures:")
    out.append(f"  CFI {fm['cfi']:.3f}   TLI {fm['tli']:.3f}   NFI {fm['nfi']:.3f}   "
               f"GFI {fm['gfi']:.3f}   AGFI {_f(fm['agfi'], 0)}")
    out.append(f"  RMSEA {fm['rmsea']:.3f}  90% CI [{_f(fm['rmsea_ci_lower'], 0)}, "
               f"{_f(fm['rmsea_ci_upper'], 0)}]  p(RMSEA <= .05) {_f(fm['rmsea_pvalue'], 0)}")
    out.append(f"  SRMR {fm['srmr']:.3f}")
    out.append(f"  logL {fm['logl']:.3f}   unrestricted logL {fm['unrestricted_logl']:.3f}")
    out.append(f"  AIC {fm['aic']:.3f}   BIC {fm['bic']:.3f}   sample-size adjusted BIC "
               f"{fm['bic2']:.3f}")
    e = res.estimates
    endogenous = set(res.spec.endogenous)
    head = f"  {'':<22}{'Estimate':>9}{'Std.Err':>9}{'z-value':>9}{'P(>|z|)':>9}"
    if standardized:
        head += f"{'Std.lv':>9}{'Std.all':>9}"
    sections = [("Latent variables", "=~"), ("Regressions", "~"), ("Covariances", "~~cov"),
                ("Variances", "~~var"), ("Defined parameters", ":=")]
    for title, key in sections:
        if key == "~~cov":
            rows = e[(e.op == "~~") & (e.lhs != e.rhs)]
        elif key == "~~var":
            rows = e[(e.op == "~~") & (e.lhs == e.rhs)]
        else:
            rows = e[e.op == key]
        if rows.empty:
            continue
        out.append("")
        out.append(f"{title}:")
        out.append(head)
        last = None
        for _, r in rows.iterrows():
            if key in ("=~", "~", "~~cov") and r.lhs != last:
                opword = {"=~": "=~", "~": "~", "~~cov": "~~"}[key]
                out.append(f"  {r.lhs} {opword}")
                last = r.lhs
            name = r.rhs if key in ("=~", "~", "~~cov") else (r.lhs if key == "~~var" else
                                                               f"{r.lhs} := {r.rhs}")
            if key in ("~~var", "~~cov") and name in endogenous:
                name = "." + name        # lavaan's mark for a residual (co)variance
            if r.label and key != ":=":
                name = f"{name} ({r.label})"
            name = ("    " + name) if key != ":=" else ("  " + name)
            line = f"{name:<24}{_f(r.est)}"
            if r.se > 0 if isinstance(r.se, float) and math.isfinite(r.se) else False:
                line += f"{_f(r.se)}{_f(r.z, 9, 3)}{_f(r.pvalue)}"
            else:
                line += " " * 27
            if standardized:
                line += f"{_f(r.std_lv)}{_f(r.std_all)}"
            out.append(line)
    if len(res.r2):
        out.append("")
        out.append("R-square:")
        for k, v in res.r2.items():
            out.append(f"    {k:<20}{_f(v)}")
    return "\n".join(out) + "\n"
