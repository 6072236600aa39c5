"""Single-group fits with exogenous covariates or mixed items, and nested-model tests, against
lavaan 0.6.14 (issue "One model, every fit").

Reference numbers: tests/fixtures/nested_covariates/*.json, written by
tests/fixtures/nested_covariates/make_nested_covariates.R (lavaan's ``fitMeasures()``,
``lavPredict()`` and ``lavTestLRT()``).  Tolerances as everywhere: χ²-type figures 1e-6
relative, indices 1e-5, factor scores 1e-4.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lavaan_reference import fit_estimator_case

import semcluster
from semcluster.resources import data_path

REF = Path(__file__).parent / "fixtures" / "nested_covariates"
ESTIMATOR_DATA = Path(__file__).parent / "fixtures" / "estimators"
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
MIMIC = HS + "visual + textual ~ ageyr + female\n"

#: semcluster case (tests/lavaan_reference.py) for each lavaan fit of fit_measures.json
CASES = {"mimic_mlr": "hs39_mimic_mlr", "mimic_fiml": "hs39_mimic_fiml",
         "mimic_fiml_mlr": "hs39_mimic_fiml_mlr", "mimic_wlsmv": "hs39_mimic_wlsmv",
         "mixed_wlsmv": "hs39_mixed_wlsmv", "wlsmv_pairwise": "hs39_wlsmv_pairwise",
         "path_fixedx_fiml": "hs39_path_fixedx_fiml", "wlsmv_theta": "hs39_wlsmv_theta",
         "mixed_wlsmv_theta": "hs39_mixed_wlsmv_theta"}


@pytest.fixture(scope="module")
def measures_ref():
    return json.loads((REF / "fit_measures.json").read_text())


@pytest.fixture(scope="module")
def fits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: fit_estimator_case(v) for k, v in CASES.items()}


def _index_close(got, want, rel=1e-5):
    return got == pytest.approx(want, rel=rel, abs=rel)


# -- 1. scaling_factor_h1 with fixed-x covariates -------------------------------------------
@pytest.mark.parametrize("case", ["mimic_mlr", "mimic_fiml_mlr"])
def test_scaling_factor_h1_leaves_out_the_covariates_own_moments(measures_ref, fits, case):
    """lavaan divides tr(A₁⁻¹B₁) by the saturated model's moments less the fixed covariates'
    (co)variances (and means, with FIML): 63 of 66 for the complete-data MIMIC model, 72 of 77
    with FIML.  semcluster divided by all of them (0.9918 and 0.9588 against 1.0391, 1.0254)."""
    ref = measures_ref[case]["fit_measures"]
    fm = fits[case].fit_measures
    for name in ("scaling_factor_h1", "scaling_factor_h0", "chisq_scaling_factor"):
        assert _index_close(fm[name], ref[name]), name


@pytest.mark.parametrize("entry,data,options", [
    ("hs39_mlr_equal_loadings", "complete", {}),
    ("hs39_fiml_mlr_equal_loadings", "missing", {"missing": "fiml"}),
])
def test_scaling_factor_h0_counts_parameters_before_equality_constraints(entry, data, options):
    """lavaan keeps each labelled parameter free with a constraint row and divides tr(A₀⁻¹B₀)
    by that count (nx.free: 21 for the HS39 CFA with a*x2 + a*x3, whose npar is 20; 30 with
    FIML); semcluster divided by npar (1.1542 and 1.0786 against 1.0993 and 1.0426).  Every
    other fitMeasures() name of these fits agrees as well."""
    ref = json.loads((REF / "equal_labels.json").read_text())[entry]["fit_measures"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fm = semcluster.fit(HS_EQUAL, _hs_data(data), estimator="MLR", **options).fit_measures
    assert _index_close(fm["scaling_factor_h0"], ref["scaling_factor_h0"])
    assert list(fm.index) == list(ref)
    for name, want in ref.items():
        if name in CHISQ_TYPE:
            assert fm[name] == pytest.approx(want, rel=1e-6), name
        else:
            assert _index_close(fm[name], want), (name, fm[name], want)


def test_equality_count_counts_shared_labels_and_explicit_constraints():
    from semcluster.estimation.mlr import equality_count
    from semcluster.spec.parser import read_model

    assert equality_count(read_model(HS)) == 0
    assert equality_count(read_model(HS_EQUAL)) == 1
    assert equality_count(read_model(HS.replace("x1 + x2 + x3", "x1 + a*x2 + b*x3")
                                     + "a == b\n")) == 1
    assert equality_count(read_model(HS.replace("x4 + x5 + x6", "x4 + c*x5 + c*x6")
                                     .replace("x1 + x2 + x3", "x1 + a*x2 + a*x3"))) == 2


def test_moment_count_counts_means_and_groups_and_leaves_out_the_covariates():
    """lavaan's data points (lav_partable_ndat), worked out by hand: 11 items have 66
    (co)variances; two fixed covariates take out their own 3; with means 11 − 2 more; three
    groups of 5 items with 2 covariates and means: 3 × (15 − 3 + 5 − 2)."""
    from semcluster.numerics import n_moments

    assert n_moments(11) == 66
    assert n_moments(11, n_fixed_x=2) == 63
    assert n_moments(11, n_fixed_x=2, means=True) == 72
    assert n_moments(9, means=True) == 54
    assert n_moments(5, n_fixed_x=2, means=True, groups=3) == 45
    assert n_moments(9, groups=2) == 90


# -- 4. factor scores of a FIML fit that left rows out ----------------------------------------
@pytest.fixture(scope="module")
def fiml_fit():
    d = pd.read_csv(ESTIMATOR_DATA / "hs39_mimic_missing.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return semcluster.fit(MIMIC, d, missing="fiml"), d


def test_predict_scores_only_the_rows_the_fiml_fit_used(measures_ref, fiml_fit):
    """lavPredict(fit) after a FIML fit that deleted 15 rows with a missing covariate has 286
    rows, those of lavInspect(fit, "case.idx"); semcluster scored all 301."""
    ref = measures_ref["mimic_fiml_predict"]
    res, d = fiml_fit
    assert res.nobs == ref["nrow"] == 286 < ref["nrow_data"] == len(d)
    scores = res.predict()
    assert len(scores) == ref["nrow"]
    assert list(scores.index) == [i - 1 for i in ref["case_idx"]]
    assert list(scores.columns) == ref["factors"]
    np.testing.assert_allclose(scores.to_numpy(), np.array(ref["scores"]), rtol=0, atol=1e-4)


def test_predict_on_given_data_leaves_rows_with_a_missing_covariate_empty(measures_ref,
                                                                          fiml_fit):
    """Scoring the data explicitly keeps every row aligned with the data: the rows the fit
    left out get NaN, with a warning naming the covariates; the others are lavaan's."""
    ref = measures_ref["mimic_fiml_predict"]
    res, d = fiml_fit
    with pytest.warns(UserWarning, match=r"15 row\(s\) with a missing value in the exogenous "
                                         r"covariate\(s\) ageyr, female"):
        scores = res.predict(data=d)
    assert len(scores) == len(d)
    used = np.zeros(len(d), dtype=bool)
    used[np.array(ref["case_idx"]) - 1] = True
    assert scores[~used].isna().all().all()
    np.testing.assert_allclose(scores[used].to_numpy(), np.array(ref["scores"]), rtol=0,
                               atol=1e-4)


def test_predict_without_covariates_does_not_warn(fiml_fit):
    """The warning is about covariates only: a FIML fit without them scores every answered
    row silently (the other side of the rule above)."""
    _, d = fiml_fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = semcluster.fit(HS, d, missing="fiml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = res.predict(data=d)
    assert len(scores) == len(d) and scores.notna().all().all()


# -- 5. every fitMeasures() name: GFI family (FIML), residual family, GFI and WRMR (WLSMV) -----
CHISQ_TYPE = ("chisq", "chisq_scaled", "baseline_chisq", "baseline_chisq_scaled", "logl",
              "unrestricted_logl", "aic", "bic", "bic2")


@pytest.mark.parametrize("case", list(CASES))
def test_every_lavaan_fit_measure_of_covariate_and_mixed_item_fits(measures_ref, fits, case):
    """Every name lavaan's fitMeasures() gives, in its order, for MLR, FIML, FIML + MLR and
    WLSMV fits with covariates (fixed.x; conditional.x for WLSMV), for WLSMV with continuous
    items among the ordinal ones, and for WLSMV with pairwise deletion and with the theta
    parameterization: χ²-type figures to 1e-6 relative, the rest to 1e-5; NaN exactly where
    lavaan gives NA (srmr_mplus for WLSMV)."""
    ref = measures_ref[case]["fit_measures"]
    fm = fits[case].fit_measures
    assert list(fm.index) == list(ref)
    for name, want in ref.items():
        if want is None:
            assert np.isnan(fm[name]), name
        elif name in CHISQ_TYPE:
            assert fm[name] == pytest.approx(want, rel=1e-6), name
        else:
            assert _index_close(fm[name], want), (name, fm[name], want)


@pytest.mark.parametrize("case", ["mimic_fiml", "mimic_fiml_mlr"])
def test_fiml_with_covariates_gives_lavaans_gfi_agfi_pgfi(measures_ref, fits, case):
    """lavaan weights the FIML residuals by the missing-data expected information with the
    covariates' own moments left out, and counts all 77 moments for AGFI and PGFI; these
    were NaN."""
    ref = measures_ref[case]["fit_measures"]
    fm = fits[case].fit_measures
    for name in ("gfi", "agfi", "pgfi"):
        assert _index_close(fm[name], ref[name]), name


@pytest.mark.parametrize("case", ["mimic_wlsmv", "mixed_wlsmv"])
def test_wlsmv_with_covariates_or_continuous_items_gives_residual_gfi_and_wrmr(measures_ref,
                                                                               fits, case):
    """RMR, SRMR (Bentler), CRMR with and without thresholds, GFI/AGFI/PGFI and WRMR, which
    were NaN for these fits: lavaan counts the covariates among the variables (SRMR's
    denominator) and the thresholds, not the continuous items' means, in the totals."""
    ref = measures_ref[case]["fit_measures"]
    fm = fits[case].fit_measures
    for name in ("rmr", "rmr_nomean", "srmr_bentler", "srmr_bentler_nomean", "crmr",
                 "crmr_nomean", "gfi", "agfi", "pgfi", "wrmr"):
        assert _index_close(fm[name], ref[name]), name


# -- 2./3. lavTestLRT of nested pairs -------------------------------------------------------
HS_EQUAL = "visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
HS_ORTHOGONAL = HS + "visual ~~ 0*speed\n"
MIMIC_NO_FEMALE_PATH = HS + "visual ~ ageyr + 0*female\ntextual ~ ageyr + female\n"
MODELS = {"hs": HS, "equal_loadings": HS_EQUAL, "orthogonal": HS_ORTHOGONAL, "mimic": MIMIC,
          "no_female_path": MIMIC_NO_FEMALE_PATH}
ITEMS = [f"x{i}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def lrt_ref():
    return json.loads((REF / "lrt.json").read_text())


def _hs_data(kind):
    if kind == "complete":
        return pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    return pd.read_csv(ESTIMATOR_DATA / {"missing": "hs39_missing.csv",
                                         "ordinal": "hs39_ordinal.csv",
                                         "mimic_ordinal": "hs39_mimic_ordinal.csv",
                                         "mixed": "hs39_mixed.csv"}[kind])


def _check_lrt(test, ref, label):
    assert test["df_diff"] == ref["df_diff"]
    assert test["test"].startswith(label)
    assert test["chisq_diff"] == pytest.approx(ref["chisq_diff"], rel=1e-6, abs=0)
    assert test["pvalue"] == pytest.approx(ref["pvalue"], rel=1e-6, abs=1e-12)


LRT_CASES = [  # (fixture entry, restricted, full, data, fit options, semcluster's label)
    ("hs39_ml_equal_loadings", "equal_loadings", "hs", "complete", {},
     "chi-square difference (likelihood ratio)"),
    ("hs39_ml_orthogonal", "orthogonal", "hs", "complete", {},
     "chi-square difference (likelihood ratio)"),
    ("hs39_mlr_default", "equal_loadings", "hs", "complete", {"estimator": "MLR"},
     "Satorra-Bentler (2001)"),
    ("hs39_fiml_mlr", "equal_loadings", "hs", "missing",
     {"estimator": "MLR", "missing": "fiml"}, "Satorra-Bentler (2001)"),
    ("hs39_wlsmv_equal_loadings", "equal_loadings", "hs", "ordinal", {"estimator": "WLSMV"},
     "Satorra (2000) scaled-shifted"),
    ("hs39_wlsmv_orthogonal", "orthogonal", "hs", "ordinal", {"estimator": "WLSMV"},
     "Satorra (2000) scaled-shifted"),
    ("hs39_wlsmv_theta_orthogonal", "orthogonal", "hs", "ordinal",
     {"estimator": "WLSMV", "parameterization": "theta"}, "Satorra (2000) scaled-shifted"),
    ("mimic_wlsmv_no_female_path", "no_female_path", "mimic", "mimic_ordinal",
     {"estimator": "WLSMV", "ordered": ITEMS}, "Satorra (2000) scaled-shifted"),
    ("mixed_wlsmv_equal_loadings", "equal_loadings", "hs", "mixed",
     {"estimator": "WLSMV", "ordered": ITEMS[:6]}, "Satorra (2000) scaled-shifted"),
]


@pytest.mark.parametrize("entry,restricted,full,data,options,label", LRT_CASES,
                         ids=[c[0] for c in LRT_CASES])
def test_nested_pairs_match_lavtestlrt(lrt_ref, entry, restricted, full, data, options,
                                       label):
    """chisq_difference(restricted, full) against lavTestLRT(full, restricted) with lavaan's
    default method for the estimator: the plain difference for ML, satorra.bentler.2001 for
    MLR (complete data and FIML), satorra.2000 (scaled and shifted) for WLSMV -- all ordinal
    items (delta and theta parameterization), with covariates (conditional.x), and with
    continuous items among the ordinal ones."""
    from semcluster.analysis.model_comparison import chisq_difference

    ref = lrt_ref[entry]
    d = _hs_data(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r0 = semcluster.fit(MODELS[restricted], d, **options)
        r1 = semcluster.fit(MODELS[full], d, **options)
    for res, want in ((r0, ref["restricted"]), (r1, ref["full"])):
        assert res.fit_measures["chisq"] == pytest.approx(want["chisq"], rel=1e-6)
    _check_lrt(chisq_difference(r0, r1), ref, label)


def test_lavaan_default_for_mlr_is_satorra_bentler_2001(lrt_ref):
    """lavaan 0.6.14's lavTestLRT picks satorra.bentler.2001 for an MLR (yuan.bentler.mplus)
    test and satorra.2000 for WLSMV: the fixture's headings say so, and the default and the
    explicit SB2001 give the same statistic."""
    assert "satorra.bentler.2001" in lrt_ref["hs39_mlr_default"]["heading"]
    assert "satorra.2000" in lrt_ref["hs39_wlsmv_equal_loadings"]["heading"]
    assert lrt_ref["hs39_mlr_default"]["chisq_diff"] == lrt_ref["hs39_mlr_sb2001"]["chisq_diff"]


@pytest.mark.parametrize("estimator,entry,label", [
    ("ML", "study_ml", "chi-square difference (likelihood ratio)"),
    ("MLR", "study_mlr_default", "Satorra-Bentler (2001)"),
    ("WLSMV", "study_wlsmv", "Satorra (2000) scaled-shifted"),
])
def test_compare_models_tests_the_study_pair_as_lavtestlrt(lrt_ref, estimator, entry, label):
    """compare_models(["revised", "h1_h5"], estimator=...) on the study data: the nested test
    is lavaan's (for WLSMV a 2-df difference, where the shift b is not 0)."""
    from semcluster.analysis.model_comparison import compare_models

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, tests, _ = compare_models(["revised", "h1_h5"], estimator=estimator)
    row = tests[(tests.restricted == "revised") & (tests.full == "h1_h5")]
    assert len(row) == 1
    _check_lrt(row.iloc[0].to_dict(), lrt_ref[entry], label)


def test_study_fiml_mlr_pair_matches_lavtestlrt(lrt_ref):
    from semcluster.analysis.model_comparison import chisq_difference

    d = pd.read_csv(ESTIMATOR_DATA / "study_missing.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r0, r1 = (semcluster.fit(m, d, estimator="MLR", missing="fiml")
                  for m in ("revised", "h1_h5"))
    _check_lrt(chisq_difference(r0, r1), lrt_ref["study_fiml_mlr"], "Satorra-Bentler (2001)")


@pytest.fixture(scope="module")
def wlsmv_pair():
    d = _hs_data("ordinal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (semcluster.fit(HS_ORTHOGONAL, d, estimator="WLSMV"),
                semcluster.fit(HS, d, estimator="WLSMV"), d)


def test_wlsmv_difference_of_results_read_back_from_json_is_refused(wlsmv_pair):
    """The satorra.2000 test needs each fit's Jacobian and Γ, which JSON does not keep: a
    clear error, not the plain difference."""
    from semcluster.errors import OptionError
    from semcluster.analysis.model_comparison import chisq_difference
    from semcluster.result.result import SEMResult

    r0, r1, _ = wlsmv_pair
    again = [SEMResult.from_json(r.to_json()) for r in (r0, r1)]
    with pytest.raises(OptionError, match="fit the two models again"):
        chisq_difference(*again)


def test_difference_of_fits_by_different_estimators_is_refused(wlsmv_pair):
    from semcluster.errors import OptionError
    from semcluster.analysis.model_comparison import chisq_difference

    r0, _, d = wlsmv_pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = semcluster.fit(HS, d)
    with pytest.raises(OptionError, match="different estimators"):
        chisq_difference(r0, ml)


def test_wlsmv_difference_of_fits_to_other_data_is_refused(wlsmv_pair):
    """Same N, other answers: the sample statistics differ, so the fits are not nested."""
    from semcluster.errors import EstimationError
    from semcluster.analysis.model_comparison import chisq_difference

    r0, _, d = wlsmv_pair
    other = d.copy()
    other["x1"] = other["x1"].iloc[::-1].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r1 = semcluster.fit(HS, other, estimator="WLSMV")
    with pytest.raises(EstimationError, match="not the same items and rows"):
        chisq_difference(r0, r1)
