"""The result of a fit: an immutable object of tidy tables, and its one text printer."""
from __future__ import annotations

import math
from dataclasses import InitVar, dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputTypeError
from .protocol import ReadOnlyDict, ResultProtocol
from ..spec.parser import ModelSpec

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
class GroupMoments:
    """One group's moments in a fit with groups or a mean structure (lavaan's
    ``lavInspect(fit, "sampstat")``, ``"implied"``, ``"cov.lv"``, ``"r2"`` for the group).

    ``sample_cov`` has divisor N_g (for FIML: the EM estimates, as lavaan's h1);
    ``r2`` the R² of the endogenous variables in this group."""

    label: str
    nobs: int
    sample_cov: pd.DataFrame
    sample_mean: pd.Series
    implied_cov: pd.DataFrame
    implied_mean: pd.Series
    latent_cov: pd.DataFrame
    latent_mean: pd.Series
    r2: pd.Series


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
        ``free`` (parameter number, 0 when fixed).  A fit with several groups has lavaan's
        ``group`` column after ``rhs`` (1..G, in the order of :attr:`groups`; 0 for ``:=``
        rows); a fit with a mean structure has ``~1`` rows (intercepts and latent means).
    fit_measures : Series
        lavaan's ``fitMeasures()`` names (``chisq df pvalue cfi tli rmsea ... aic bic``).
    r2 : Series
        R² of every endogenous variable (several groups: indexed by (group label, variable)).
    nobs : int
        Number of observations used (all groups together; per group :attr:`group_nobs`).
    sample_cov, implied_cov, latent_cov : DataFrame, or None with several groups
        The moments of a single group; with several groups they are per group in
        :attr:`moments`.
    groups : tuple of str
        Group labels in lavaan's order (first appearance in the data); empty for one group.
    group_column, group_equal, group_partial
        The grouping column and lavaan's ``group.equal`` / ``group.partial`` of the fit.
    moments : tuple of GroupMoments
        Per group sample and implied means and covariances, latent covariances and means, R²
        (fits with groups or a mean structure; empty otherwise).
    converged, admissible : bool
    warnings : tuple of str
        Plain-language problems (non-convergence, negative variances, ...).
    info : dict (read-only)
        Estimator details: ``x`` (free parameter vector), ``optimizer``, ``test``, ``se``...

    Notes
    -----
    The result protocol (:mod:`semcluster.result.protocol`): ``summary()`` (text), ``to_frame()``
    (the estimates), ``to_dict()``/``to_json()``, ``SEMResult.from_json(text)``; results can be
    pickled, deep-copied and compared with ``==``.  Factor scores of the respondents:
    :meth:`predict` (lavaan's ``lavPredict``).
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
    groups: tuple = ()
    group_column: str | None = None
    group_equal: tuple = ()
    group_partial: tuple = ()
    moments: tuple = ()
    # kept with the result object, not fields (not saved, not compared): the rows the fit used
    # (res.predict() scores them, as lavaan's lavPredict(fit)) and what a nested-model test of
    # two WLSMV fits needs (Γ alone has (statistics)² numbers)
    data: InitVar[object] = None
    difftest: InitVar[object] = None

    def __post_init__(self, data=None, difftest=None):
        object.__setattr__(self, "info", ReadOnlyDict(self.info))
        if data is not None:
            object.__setattr__(self, "_data", data)
        if difftest is not None:
            object.__setattr__(self, "_difftest", difftest)

    @property
    def estimator_label(self) -> str:
        """lavaan's ``Estimator`` line of the summary (MLR prints ML, WLSMV prints DWLS), from
        the estimator's registry entry (kept in ``info`` when the result was built)."""
        return str(self.info.get("estimator_label", self.estimator))

    @property
    def missing(self) -> str:
        """The missing-data rule the fit used: ``"fiml"`` or ``"listwise"``."""
        return "fiml" if self.info.get("missing") == "fiml" else "listwise"

    @property
    def group_nobs(self) -> dict:
        """Observations per group label (lavaan's ``lavInspect(fit, "nobs")``)."""
        if self.moments:
            return {m.label: int(m.nobs) for m in self.moments}
        return {"1": int(self.nobs)}

    @property
    def n_groups(self) -> int:
        return max(len(self.groups), 1)

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

    def to_semopy(self):
        """This fit as a ``semopy.Model``: the model built by semopy, the sample moments
        loaded, the parameters set to these estimates (for semopy's ``inspect``, statistics
        and plots). See :func:`semcluster.spec.semopy_bridge.to_semopy`.

        A fit with several groups or a mean structure is refused (OptionError): a
        ``semopy.Model`` holds one group's covariance structure, without means."""
        from ..errors import OptionError
        from ..spec.semopy_bridge import to_semopy

        if self.groups:
            raise OptionError(f"a semopy.Model holds one group: this fit has {len(self.groups)} "
                              f"groups ({', '.join(self.groups)}), which semopy cannot hold; "
                              f"fit each group alone to hand it to semopy")
        if self.moments:
            raise OptionError("a semopy.Model holds no mean structure: this fit has intercepts "
                              "('~ 1' or meanstructure=True); fit it without them to hand it "
                              "to semopy")

        return to_semopy(self)

    def modindices(self, *, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
        """Modification indices of this fit (lavaan's ``modindices()``).

        Same as :func:`semcluster.modification_indices` ``(self, sort=sort, minimum=minimum)``:
        a DataFrame ``lhs op rhs mi epc sepc_all``, largest MI first when ``sort``, rows with
        MI below ``minimum`` left out.
        """
        from ..measures.modindices import group_modification_indices, modification_indices

        if self.moments:
            return group_modification_indices(self, sort=sort, minimum=minimum)
        return modification_indices(self, sort=sort, minimum=minimum)

    def residuals(self, type: str = "standardized") -> pd.DataFrame:
        """Residual covariance matrix (lavaan's ``residuals()`` / ``lavResiduals()``).

        Same as :func:`semcluster.residuals` ``(self, type)``; ``type`` is ``"raw"``,
        ``"normalized"`` or ``"standardized"``.  A fit with groups or a mean structure gives
        per group the covariance and mean residuals, ``{label: {"cov": ..., "mean": ...}}``
        (:func:`semcluster.measures.modindices.group_residuals`; raw and normalized).
        """
        from ..measures.modindices import group_residuals, residuals

        if self.moments:
            return group_residuals(self, type)
        return residuals(self, type)

    def predict(self, method: str = "regression", se: bool = False, data=None):
        """Factor scores of the latent variables (lavaan's ``lavPredict(fit)``).

        Parameters
        ----------
        method : {"regression", "bartlett"}
            ``regression`` (lavaan's default, Thurstone: E[η | y] = μ_η + Φ Λᵀ Σ⁻¹ (y − μ_y)
            with Φ the model-implied covariance of the latent variables) or ``bartlett``
            ((Λᵀ Θ⁻¹ Λ)⁻¹ Λᵀ Θ⁻¹ (y − μ_y)).
        se : bool
            Also return the scores' standard errors (lavaan's ``se = "standard"``): the same
            for every complete row; for FIML fits they depend on the answered items.
        data : DataFrame or path
            The rows to score, with the model's items as columns: usually the data you fitted
            (the frame :func:`semcluster.read_survey` returned, when the fit recoded answers).
            Default: the rows this result was fitted to (kept by :func:`semcluster.fit` with
            raw data; a fit of a covariance matrix has none, so ``data`` is required).

        Returns
        -------
        DataFrame, or (scores, standard errors) when ``se``
            One row per row of ``data`` (same index), one column per latent variable.  NaN where
            lavaan gives no score: rows with a missing answer for a complete-data fit; for a FIML
            fit rows without any answer, and with Bartlett's method a latent variable none of
            whose items was answered.

        Raises
        ------
        OptionError
            Unknown method, a model without latent variables, a WLSMV fit, or no data.

        Notes
        -----
        Formulas, means and missing answers: :mod:`semcluster.measures.scores`.

        Examples
        --------
        >>> X, rep = semcluster.read_survey(None, variables=semcluster.read_model("h1_h5").observed)  # doctest: +SKIP
        >>> res = semcluster.fit("h1_h5", X)                                   # doctest: +SKIP
        >>> scores, se = res.predict("bartlett", se=True, data=X)               # doctest: +SKIP
        """
        from ..errors import OptionError
        from ..measures.scores import factor_scores

        own = data is None          # the fit's own rows: only those it used, as lavPredict
        if data is None:
            data = getattr(self, "_data", None)
            if data is None:
                raise OptionError("this result does not keep the data it was fitted to: pass "
                                  "data= (the DataFrame you fitted, or the data file) to "
                                  "predict()")
        if not self.moments:
            return factor_scores(self, data, method=method, se=se, fitted_rows_only=own)
        return self._predict_by_group(data, method, se)

    def _predict_by_group(self, data, method, se):
        """Scores of a fit with groups or a mean structure: each group's rows with that group's
        parameters (lavaan's ``lavPredict``, one block per group), in the rows' order."""
        from ..data.survey import load_data
        from ..errors import DataError
        from ..measures.scores import factor_scores

        if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
            data = load_data(data)
        if not isinstance(data, pd.DataFrame):
            raise InputTypeError(f"data must be a DataFrame or a data file, not "
                                 f"{type(data).__name__}")
        if not self.groups:
            return factor_scores(self._group_view(0), data, method=method, se=se)
        col = self.group_column
        if col not in data.columns:
            raise DataError(f"the data to score lack the grouping column '{col}' of this "
                            f"multi-group fit")
        labels = data[col].astype(str)
        unknown = sorted(set(labels[data[col].notna()]) - set(self.groups))
        if unknown:
            raise DataError(f"the data to score have group(s) {', '.join(unknown)} that the "
                            f"fit does not have (groups: {', '.join(self.groups)})")
        parts, ses = [], []
        for g, lab in enumerate(self.groups):
            rows = data[(labels == lab) & data[col].notna()]
            if not len(rows):
                continue
            out = factor_scores(self._group_view(g), rows, method=method, se=se)
            parts.append(out[0] if se else out)
            if se:
                ses.append(out[1])
        cols = list(self.spec.latent)

        def whole(frames):
            # every row of the data, in its order (a row without a group: NaN)
            return pd.concat(frames).reindex(data.index)[cols] if frames else \
                pd.DataFrame(np.nan, index=data.index, columns=cols)
        return (whole(parts), whole(ses)) if se else whole(parts)

    def _group_view(self, g: int) -> "SEMResult":
        """Group ``g`` of a fit with groups or a mean structure as a one-group result whose
        model has every parameter fixed at the group's estimate (what the scores need: the
        group's matrices, intercepts and latent means, its sample moments)."""
        import dataclasses

        e = self.estimates
        eg = e[e.group == g + 1].drop(columns="group") if self.groups else e[e.op != ":="]
        value = {}
        for r in eg.itertuples():
            value[(r.lhs, r.op, r.rhs)] = float(r.est)
            if r.op == "~~":
                value[(r.rhs, r.op, r.lhs)] = float(r.est)
        pt = self.spec.partable
        pt = pt[pt.op.isin(["=~", "~", "~~"])].reset_index(drop=True).copy()
        pt["fixed"] = [value.get((a, o, b), f) for a, o, b, f in
                       zip(pt.lhs, pt.op, pt.rhs, pt.fixed)]
        pt["free"] = 0
        if "group_values" in pt:
            pt["group_values"] = None
        spec = dataclasses.replace(self.spec, partable=pt)
        m = self.moments[g]
        return dataclasses.replace(
            self, spec=spec, estimates=eg.reset_index(drop=True), sample_cov=m.sample_cov,
            implied_cov=m.implied_cov, latent_cov=m.latent_cov, r2=m.r2, nobs=int(m.nobs),
            info={**dict(self.info), "x": np.zeros(0)}, groups=(), group_column=None,
            moments=())

    def to_frame(self) -> pd.DataFrame:
        """The parameter estimates (a copy of :attr:`estimates`)."""
        return self.estimates.copy()

    # -- output -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-ready dict: converged admissible warnings nobs fit_measures estimates r2."""
        keys = JSON_ESTIMATE_KEYS
        for block in ("group", "level"):          # lavaan's block columns, after rhs
            if block in self.estimates.columns:
                keys = keys[:3] + [block] + keys[3:]
        est = [{k: _clean(r[k]) for k in keys} for _, r in self.estimates.iterrows()]
        out = {
            "model": self.spec.name,
            "estimator": self.estimator,
            "converged": bool(self.converged),
            "admissible": bool(self.admissible),
            "warnings": list(self.warnings),
            "nobs": int(self.nobs),
            "missing": self.missing,
            "fit_measures": {k: _clean(v) for k, v in self.fit_measures.items()},
            "estimates": est,
            "r2": {k: _clean(v) for k, v in self.r2.items()},
        }
        if self.groups or "level" in self.estimates.columns:
            out["r2"] = {m.label: {k: _clean(v) for k, v in m.r2.items()}
                         for m in self.moments}
        if self.groups:
            out.update(groups=list(self.groups), group_column=self.group_column,
                       group_nobs=self.group_nobs, group_equal=list(self.group_equal),
                       group_partial=list(self.group_partial))
        return out

    def summary(self, standardized: bool = True) -> str:
        """A lavaan-like text summary."""
        return format_summary(self, standardized=standardized)

    def __repr__(self):
        fm = self.fit_measures
        return (f"<SEMResult {self.spec.name}: N={self.nobs}, chisq={fm['chisq']:.3f}, "
                f"df={int(fm['df'])}, cfi={fm['cfi']:.3f}, rmsea={fm['rmsea']:.3f}, "
                f"converged={self.converged}, admissible={self.admissible}>")


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _num(v, dec=3) -> str:
    return f"{float(v):.{dec}f}" if _finite(v) else ""


def _count(v) -> str:
    if not _finite(v):
        return ""
    v = float(v)
    return str(int(round(v))) if abs(v - round(v)) < 1e-9 else f"{v:.3f}"


_LABEL_WIDTH = 54      # lavaan: a label, then the first column ending at character 54
_COLUMN_WIDTH = 12     # each further (Scaled / Robust) column


def _line(label: str, *values: str) -> str:
    """``  label ........ value1      value2`` in lavaan's fit-measure layout."""
    s = f"  {label}"
    if not values:
        return s
    first = values[0] or ""
    s = s.ljust(max(_LABEL_WIDTH - len(first), len(s) + 1)) + first
    for v in values[1:]:
        s += (v or "").rjust(_COLUMN_WIDTH)
    return s.rstrip()


def _fit_sections(res: "SEMResult") -> list[str]:
    """Header and fit measures, section by section as lavaan's ``summary(fit.measures=TRUE)``."""
    from .. import __version__

    fm = res.fit_measures
    g = fm.get
    robust = _finite(g("chisq_scaled"))          # MLR (Yuan-Bentler) or WLSMV (scaled, shifted)
    wlsmv = res.estimator == "WLSMV"
    fiml = res.info.get("missing") == "fiml"
    out = []
    iters = res.info.get("iterations")
    ended = "ended normally" if res.converged else "did NOT end normally (no convergence)"
    out.append(f"semcluster {__version__} {ended}"
               + (f" after {int(iters)} iterations" if iters else ""))
    out.append("")
    out.append(_line("Model", f"{res.spec.name}"))
    out.append(_line("Estimator", res.estimator_label))
    out.append(_line("Number of model parameters", _count(g("npar"))))
    out.append("")
    if res.groups:
        out.append(_line("Number of observations per group:"))
        for lab, n in res.group_nobs.items():
            out.append(_line("  " + str(lab), str(int(n))))
    else:
        out.append(_line("Number of observations", str(int(res.nobs))))
    if res.group_equal:
        out.append(_line("Equal across groups: " + ", ".join(res.group_equal)))
    if res.group_partial:
        out.append(_line("Freed again (group.partial): " + ", ".join(res.group_partial)))
    rep = res.data_report
    if fiml and rep is not None and getattr(rep, "n_patterns", None):
        out.append(_line("Number of missing patterns", str(int(rep.n_patterns))))
    clusters = getattr(rep, "clusters", None) if rep is not None else None
    if res.info.get("n_clusters") and clusters is not None:      # lavaan's line for cluster=
        out.append(_line(f"Number of clusters [{clusters.column}]",
                         str(int(res.info["n_clusters"]))))
    if not res.admissible:
        out.append("")
        out.append("  The solution is NOT admissible (see the warnings).")
    for w in res.warnings:
        out.append(f"  WARNING: {w}")

    def two(key, dec=3, count=False):
        f = _count if count else (lambda v: _num(v, dec))
        vals = [f(g(key))]
        if robust:
            scaled = {"chisq": "chisq_scaled", "df": "df_scaled", "pvalue": "pvalue_scaled",
                      "baseline_chisq": "baseline_chisq_scaled",
                      "baseline_df": "baseline_df_scaled",
                      "baseline_pvalue": "baseline_pvalue_scaled",
                      "cfi": "cfi_scaled", "tli": "tli_scaled", "rmsea": "rmsea_scaled",
                      "rmsea_ci_lower": "rmsea_ci_lower_scaled",
                      "rmsea_ci_upper": "rmsea_ci_upper_scaled",
                      "rmsea_pvalue": "rmsea_pvalue_scaled"}.get(key, key)
            vals.append(f(g(scaled)))
        return vals

    # -- model test ---------------------------------------------------------------------------
    out += ["", "Model Test User Model:"]
    if robust:
        out.append(" " * (_LABEL_WIDTH - 8) + "Standard" + "Scaled".rjust(_COLUMN_WIDTH))
        out.append(_line("Test Statistic", *two("chisq")))
    else:
        out.append("")
        out.append(_line("Test statistic", *two("chisq")))
    out.append(_line("Degrees of freedom", *two("df", count=True)))
    out.append(_line("P-value (Chi-square)", *two("pvalue")))
    if robust:
        out.append(_line("Scaling correction factor", "", _num(g("chisq_scaling_factor"))))
        # not a fit measure in lavaan (fitMeasures() does not list it): kept in info
        shift = res.info.get("chisq_shift_parameter", g("chisq_shift_parameter"))
        if _finite(shift):
            out.append(_line("Shift parameter", "", _num(shift)))
        out.append("    " + ("simple second-order correction"
                             if res.info.get("test") == "scaled.shifted" else
                             "Yuan-Bentler correction (Mplus variant)"))
    by_group = res.info.get("chisq_by_group")
    if res.groups and by_group is not None and len(by_group) == len(res.groups):
        # lavaan's "Test statistic for each group" (scaled: each divided by the one factor)
        c = g("chisq_scaling_factor")
        out.append("  Test statistic for each group:")
        for lab, v in zip(res.groups, by_group):
            out.append(_line("  " + str(lab), _num(v), *([_num(v / c)] if robust and
                                                       _finite(c) and not wlsmv else [])))
    # -- baseline -----------------------------------------------------------------------------
    if _finite(g("baseline_chisq")):
        out += ["", "Model Test Baseline Model:", ""]
        out.append(_line("Test statistic", *two("baseline_chisq")))
        out.append(_line("Degrees of freedom", *two("baseline_df", count=True)))
        out.append(_line("P-value", *two("baseline_pvalue")))
        if robust and _finite(g("baseline_chisq_scaling_factor")):
            out.append(_line("Scaling correction factor", "",
                             _num(g("baseline_chisq_scaling_factor"))))
        # -- user vs baseline ---------------------------------------------------------------
        out += ["", "User Model versus Baseline Model:", ""]
        out.append(_line("Comparative Fit Index (CFI)", *two("cfi")))
        out.append(_line("Tucker-Lewis Index (TLI)", *two("tli")))
        if _finite(g("cfi_robust")):
            lead = [""] if robust else []
            out.append("")
            out.append(_line("Robust Comparative Fit Index (CFI)", *lead,
                             _num(g("cfi_robust"))))
            out.append(_line("Robust Tucker-Lewis Index (TLI)", *lead, _num(g("tli_robust"))))
    # -- log-likelihood and information criteria (not for WLSMV, as lavaan) -------------------
    if _finite(g("logl")):
        rep2 = (lambda v: [v, v]) if robust else (lambda v: [v])
        out += ["", "Loglikelihood and Information Criteria:", ""]
        out.append(_line("Loglikelihood user model (H0)", *rep2(_num(g("logl")))))
        out.append(_line("Loglikelihood unrestricted model (H1)",
                         *rep2(_num(g("unrestricted_logl")))))
        out.append("")
        out.append(_line("Akaike (AIC)", *rep2(_num(g("aic")))))
        out.append(_line("Bayesian (BIC)", *rep2(_num(g("bic")))))
        out.append(_line("Sample-size adjusted Bayesian (SABIC)", *rep2(_num(g("bic2")))))
    # -- RMSEA --------------------------------------------------------------------------------
    if _finite(g("rmsea")):
        out += ["", "Root Mean Square Error of Approximation:", ""]
        out.append(_line("RMSEA", *two("rmsea")))
        out.append(_line("90 Percent confidence interval - lower", *two("rmsea_ci_lower")))
        out.append(_line("90 Percent confidence interval - upper", *two("rmsea_ci_upper")))
        out.append(_line("P-value H_0: RMSEA <= 0.050", *two("rmsea_pvalue")))
        if _finite(g("rmsea_robust")):
            lead = [""] if robust else []
            out.append("")
            out.append(_line("Robust RMSEA", *lead, _num(g("rmsea_robust"))))
            out.append(_line("90 Percent confidence interval - lower", *lead,
                             _num(g("rmsea_ci_lower_robust"))))
            out.append(_line("90 Percent confidence interval - upper", *lead,
                             _num(g("rmsea_ci_upper_robust"))))
            out.append(_line("P-value H_0: Robust RMSEA <= 0.050", *lead,
                             _num(g("rmsea_pvalue_robust"))))
    # -- SRMR ---------------------------------------------------------------------------------
    if _finite(g("srmr")):
        out += ["", "Standardized Root Mean Square Residual:", ""]
        v = _num(g("srmr"))
        if "srmr_within" in res.fit_measures.index:      # two levels: lavaan's two lines
            out.append(_line("SRMR (within covariance matrix)", _num(g("srmr_within"))))
            out.append(_line("SRMR (between covariance matrix)", _num(g("srmr_between"))))
        else:
            out.append(_line("SRMR", *([v, v] if robust else [v])))
    # -- how the standard errors were computed ------------------------------------------------
    out += ["", "Parameter Estimates:", ""]
    se_kind = res.info.get("se", "standard")      # the estimator's registry entry
    if se_kind == "robust.sem":
        rows = [("Standard errors", "Robust.sem"), ("Information", "Expected"),
                ("Information saturated (h1) model", "Unstructured")]
    elif se_kind == "robust.huber.white":
        rows = [("Standard errors", "Sandwich"), ("Information bread", "Observed"),
                ("Observed information based on", "Hessian")]
    elif fiml or res.info.get("information") == "observed":
        rows = [("Standard errors", "Standard"), ("Information", "Observed"),
                ("Observed information based on", "Hessian")]
    else:
        rows = [("Standard errors", "Standard"), ("Information", "Expected"),
                ("Information saturated (h1) model", "Structured")]
    out += [_line(a, b) for a, b in rows]
    return out


def _estimate_sections(res: "SEMResult", standardized: bool) -> list[str]:
    """Parameter estimates in lavaan's sections and order; with several groups one block per
    group (``Group 1 [label]:``), defined parameters after the last, as lavaan prints them."""
    e = res.estimates
    if "level" in e.columns:      # two levels: lavaan's "Level 1 [within]:" blocks
        out = []
        for li, m in enumerate(res.moments, start=1):
            name = "within" if li == 1 else res.info.get("cluster", "between")
            out += ["", "", f"Level {li} [{name}]:"]
            out += _block_sections(res, e[e.level == li], m.r2, standardized)
        return out
    if not res.groups:
        return _block_sections(res, res.estimates, res.r2, standardized)
    out = []
    for gi, m in enumerate(res.moments, start=1):
        out += ["", "", f"Group {gi} [{m.label}]:"]
        out += _block_sections(res, e[e.group == gi], m.r2, standardized)
    defined = e[e.op == ":="]
    if len(defined):
        out += _block_sections(res, defined, pd.Series(dtype=float), standardized)
    return out


def _block_sections(res: "SEMResult", e: pd.DataFrame, r2: pd.Series,
                    standardized: bool) -> list[str]:
    """The sections of one block of estimates (one group, or the whole single-group fit)."""
    e = e.copy()
    if "label" not in e.columns:
        e["label"] = ""
    e["label"] = e["label"].fillna("").astype(str)
    latent = set(res.spec.latent)
    endogenous = set(res.spec.endogenous)
    wlsmv = res.estimator == "WLSMV"
    ordinal = sorted(set(e.loc[e.op == "|", "lhs"]), key=lambda v: list(e.lhs).index(v))
    extra = []
    if wlsmv:
        # lavaan's WLSMV model has a mean structure with every intercept fixed at zero (the
        # means of continuous items in a mix are estimated and already listed)
        has_mean = set(e.loc[e.op == "~1", "lhs"])
        obs = [v for v in res.spec.observed if v in set(e.lhs) | set(e.rhs)
               and v not in has_mean and v not in set(res.spec.fixed_x)]  # (covariates:
        # lavaan shows their sample means, which the result does not hold: not listed)
        for v in obs + [f for f in res.spec.latent if f not in has_mean]:
            extra.append({"lhs": v, "op": "~1", "rhs": "", "label": "", "est": 0.0, "se": 0.0,
                          "z": np.nan, "pvalue": np.nan, "std_lv": 0.0, "std_all": 0.0})
    if wlsmv and res.info.get("parameterization", "delta") == "delta":
        for v in ordinal:            # delta parameterization: scale factors fixed at 1
            extra.append({"lhs": v, "op": "~*~", "rhs": v, "label": "", "est": 1.0, "se": 0.0,
                          "z": np.nan, "pvalue": np.nan, "std_lv": 1.0, "std_all": 1.0})
    if extra:
        e = pd.concat([e, pd.DataFrame(extra)], ignore_index=True)

    def dotted(v):
        return "." + v if v in endogenous else v

    def name_of(r, key):
        if key in ("=~", "~"):
            return r.rhs
        if key == "cov":
            return dotted(r.rhs)
        if key in ("var", "~1"):
            return dotted(r.lhs)
        if key == "|":
            return f"{r.lhs}|{r.rhs}"
        return r.lhs                 # ":=" and "~*~"

    sections = [("Latent Variables", "=~"), ("Regressions", "~"), ("Covariances", "cov"),
                ("Intercepts", "~1"), ("Thresholds", "|"), ("Variances", "var"),
                ("Scales y*", "~*~"), ("Defined Parameters", ":=")]
    picked = {}
    for title, key in sections:
        if key == "cov":
            rows = e[(e.op == "~~") & (e.lhs != e.rhs)]
        elif key == "var":
            rows = e[(e.op == "~~") & (e.lhs == e.rhs)]
        else:
            rows = e[e.op == key]
        if key in ("var", "~1"):
            # lavaan: observed variables (residual variances, intercepts) first, then latents
            rows = rows.assign(_lat=rows.lhs.isin(latent)).sort_values("_lat", kind="stable")
        picked[key] = rows
    names = [name_of(r, k) + (f" ({r.label})" if r.label and k != ":=" else "")
             for k, rows in picked.items() for _, r in rows.iterrows()]
    nw = max([18] + [len(n) + 6 for n in names])
    cols = ["Estimate", "Std.Err", "z-value", "P(>|z|)"] + (
        ["Std.lv", "Std.all"] if standardized else [])
    head = " " * nw + "".join(f"{c:>9}" for c in cols)

    def cell(v, dec=3):
        return f"{float(v):9.{dec}f}" if _finite(v) else " " * 9

    out = []
    for title, key in sections:
        rows = picked[key]
        if rows.empty:
            continue
        out += ["", f"{title}:", head]
        last = None
        for _, r in rows.iterrows():
            if key in ("=~", "~", "cov") and r.lhs != last:
                opword = {"=~": "=~", "~": "~", "cov": "~~"}[key]
                lhs = dotted(r.lhs) if key == "cov" else r.lhs
                out.append((" " if lhs.startswith(".") else "  ") + f"{lhs} {opword}")
                last = r.lhs
            name = name_of(r, key)
            indent = "   " if name.startswith(".") else "    "
            left = indent + name
            if r.label and key != ":=":
                lab = f"({r.label})"
                left = left.ljust(nw - len(lab) - 1) + lab
            line = left.ljust(nw) + cell(r.est)
            free = _finite(r.se) and float(r.se) > 0 and _finite(r.get("z"))
            if free:
                line += cell(r.se) + cell(r.z) + cell(r.pvalue)
            else:
                line += " " * 27
            if standardized:
                line += cell(r.std_lv) + cell(r.std_all)
            out.append(line.rstrip())
    if len(r2):
        out += ["", "R-Square:", " " * nw + f"{'Estimate':>9}"]
        for k, v in r2.items():
            out.append((f"    {k}".ljust(nw) + cell(v)).rstrip())
    return out


def format_summary(res: SEMResult, standardized: bool = True) -> str:
    """lavaan's ``summary(fit, fit.measures = TRUE, standardized = TRUE, rsquare = TRUE)``.

    The same sections in the same order and layout: header (estimator, number of parameters,
    observations, missing patterns), Model Test User Model (Standard and Scaled columns with
    scaling factor and shift for MLR/WLSMV), Model Test Baseline Model, User Model versus
    Baseline Model (with robust CFI/TLI), Loglikelihood and Information Criteria (left out for
    WLSMV, as lavaan does), RMSEA with its 90 % interval (and the robust RMSEA), SRMR; then
    Parameter Estimates: Latent Variables, Regressions, Covariances, Intercepts (when the model
    has a mean structure: FIML, WLSMV), Thresholds (WLSMV), Variances (observed residual
    variances first, then latent variables), Scales y* (WLSMV, delta parameterization),
    Defined Parameters and R-Square.  Fixed parameters have no standard error, z or p.

    Not (yet) printed: lavaan's "P-value H_0: RMSEA >= 0.080" lines and the MLR scaling
    factors of the two log-likelihoods.
    """
    return "\n".join(_fit_sections(res) + _estimate_sections(res, standardized)) + "\n"
