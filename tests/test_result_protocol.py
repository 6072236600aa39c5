"""The result protocol shared by every result class, lavaan's option spellings, the exception
hierarchy, the clean package namespace and the library's answers to bad inputs."""
from __future__ import annotations

import copy
import io
import json
import pickle
import types

import joblib
import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster import study
from semcluster.analysis.bootstrap import BootstrapResult
from semcluster.study.regression_vs_sem import Comparison, compare_methods
from semcluster.analysis.model_comparison import ModelComparison, compare_models
from semcluster.analysis.invariance import InvarianceResult, measurement_invariance
from semcluster.analysis.measurement import (GroupMeasurementReport, MeasurementReport,
                                    measurement_report)
from semcluster.analysis.method_bias import (HarmanResult, MethodBiasResult, harman,
                                    method_factor_check)
from semcluster.analysis.power import PowerResult
from semcluster.study.power import power_analysis
from semcluster.result.protocol import ReadOnlyDict, ResultProtocol
from semcluster.analysis.regression import (RegressionResult, ols_from_correlations,
                                   stepwise_from_correlations)
from semcluster.resources import data_path
from semcluster.result.result import SEMResult

HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
SMALL = "CA =~ ca1 + ca2 + ca3 + ca4\nKS =~ ks1 + ks2 + ks3"     # quick on the study data


@pytest.fixture(scope="module")
def h1_h5():
    return semcluster.fit("h1_h5")


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(data_path("holzinger_swineford_1939.csv"))


def _ols():
    return ols_from_correlations(study.correlations(), study.OUTCOME, list(study.PREDICTORS),
                                 study.N)


def _stepwise():
    return stepwise_from_correlations(study.correlations(), study.OUTCOME,
                                      list(study.PREDICTORS), study.N)


# one maker per result class, small sizes
MAKERS = {
    "SEMResult ML": lambda r, hs: r,
    "SEMResult MLR": lambda r, hs: semcluster.fit(SMALL, estimator="MLR"),
    "SEMResult WLSMV": lambda r, hs: semcluster.fit(SMALL, estimator="WLSMV"),
    "SEMResult FIML": lambda r, hs: semcluster.fit(HS_MODEL, hs.assign(
        x1=hs.x1.where(hs.index % 7 != 0)), missing="ml"),
    "BootstrapResult": lambda r, hs: semcluster.bootstrap("h1_h5", n_boot=20, result=r),
    "BootstrapResult bollen-stine": lambda r, hs: semcluster.bootstrap(
        SMALL, n_boot=20, kind="bollen-stine", bca=False),
    "PowerResult": lambda r, hs: power_analysis("h1_h5", reps=10, n_grid=(160, 250),
                                                n_truth=20_000),
    "MeasurementReport": lambda r, hs: measurement_report("cfa", parallel_iter=20),
    "GroupMeasurementReport": lambda r, hs: measurement_report(
        SMALL, pd.read_csv(data_path("paper_synthetic.csv")).assign(
            g=lambda d: d.index % 2), group="g", parallel_iter=20),
    "InvarianceResult": lambda r, hs: measurement_invariance(HS_MODEL, hs, group="school"),
    "SEMResult multi-group": lambda r, hs: semcluster.fit(HS_MODEL, hs, group="school",
                                                            group_equal=["loadings"]),
    "SEMResult mean structure": lambda r, hs: semcluster.fit(HS_MODEL + "\nx1 ~ 1", hs),
    "ModelComparison": lambda r, hs: compare_models(["h1_h5", "revised"]),
    "Comparison": lambda r, hs: compare_methods(sem_result=r),
    "RegressionResult OLS": lambda r, hs: _ols(),
    "RegressionResult stepwise": lambda r, hs: _stepwise(),
    "HarmanResult": lambda r, hs: harman(pd.read_csv(data_path("paper_synthetic.csv")),
                                         ["ca1", "ca2", "ca3", "ca4", "ks1", "ks2", "ks3"]),
    "MethodBiasResult": lambda r, hs: method_factor_check(SMALL, None),
}
CLASSES = {"SEMResult": SEMResult, "BootstrapResult": BootstrapResult,
           "PowerResult": PowerResult, "MeasurementReport": MeasurementReport,
           "GroupMeasurementReport": GroupMeasurementReport,
           "InvarianceResult": InvarianceResult,
           "ModelComparison": ModelComparison,
           "Comparison": Comparison, "RegressionResult": RegressionResult,
           "HarmanResult": HarmanResult, "MethodBiasResult": MethodBiasResult}


@pytest.fixture(scope="module")
def results(h1_h5, hs):
    return {name: make(h1_h5, hs) for name, make in MAKERS.items()}


# dataclasses named like results that are parts or internals, not results a user is handed
NOT_RESULTS = {"DataReport",        # part of SEMResult (what happened to the data)
               "PolychoricResult",  # estimator internals (WLSMV's first stage)
               "ResultView"}        # the diagram's read-only view of a result


def test_every_result_class_is_covered():
    """Every dataclass of the library named *Result, *Report or *Comparison derives from the
    protocol and is exercised below."""
    import dataclasses
    import importlib
    import inspect
    import pkgutil
    import re

    found = set()
    for mod in pkgutil.walk_packages(semcluster.__path__, "semcluster."):
        if ".cli" in mod.name or mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__ and \
                    dataclasses.is_dataclass(obj) and \
                    re.search(r"(Result|Report|Comparison)$", name):
                found.add(name)
    assert found - NOT_RESULTS == set(CLASSES)
    covered = {name.split()[0] for name in MAKERS}
    assert covered == set(CLASSES)
    for cls in CLASSES.values():
        assert issubclass(cls, ResultProtocol)


@pytest.mark.parametrize("name", list(MAKERS))
def test_round_trips(results, name):
    res = results[name]
    cls = type(res)
    assert res == res
    text = res.to_json()
    json.loads(text)                           # standard JSON: no NaN literals
    assert "NaN" not in text.replace('"nan"', "")
    back = cls.from_json(text)
    assert type(back) is cls
    assert back == res
    assert semcluster.load_result(text) == res
    assert pickle.loads(pickle.dumps(res)) == res
    assert copy.deepcopy(res) == res
    buf = io.BytesIO()
    joblib.dump(res, buf)
    buf.seek(0)
    assert joblib.load(buf) == res
    # the tables come back with their dtypes and exact values
    frame, frame_back = res.to_frame(), back.to_frame()
    assert isinstance(frame, pd.DataFrame)
    pd.testing.assert_frame_equal(frame, frame_back, check_exact=True)
    assert back.summary() == res.summary()


@pytest.mark.parametrize("name", list(MAKERS))
def test_summary_is_text_and_to_dict_is_json(results, name):
    res = results[name]
    s = res.summary()
    assert isinstance(s, str) and s.strip()
    d = res.to_dict()
    assert isinstance(d, dict)
    json.dumps(d, allow_nan=False)


def test_to_frame_is_a_copy(h1_h5):
    f = h1_h5.to_frame()
    f.loc[0, "est"] = 99.0
    assert h1_h5.estimates.loc[0, "est"] != 99.0


def test_changed_result_is_not_equal(h1_h5):
    import dataclasses

    other = dataclasses.replace(h1_h5, nobs=h1_h5.nobs + 1)
    assert other != h1_h5
    assert h1_h5 != "a string"


def test_info_stays_read_only(h1_h5):
    assert isinstance(h1_h5.info, ReadOnlyDict)
    with pytest.raises(TypeError):
        h1_h5.info["x"] = 1
    assert isinstance(pickle.loads(pickle.dumps(h1_h5)).info, ReadOnlyDict)
    assert isinstance(SEMResult.from_json(h1_h5.to_json()).info, ReadOnlyDict)


def test_json_keeps_the_readable_keys(h1_h5):
    d = json.loads(h1_h5.to_json())
    for key in ("model", "estimator", "fit_measures", "estimates", "r2", "semcluster"):
        assert key in d
    assert d["semcluster"]["type"] == "SEMResult"


def test_from_json_refuses_what_it_cannot_load(h1_h5, tmp_path):
    with pytest.raises(semcluster.DataError, match="not JSON"):
        SEMResult.from_json("{not json")
    with pytest.raises(semcluster.DataError, match="no semcluster result state"):
        SEMResult.from_json(json.dumps(h1_h5.to_dict()))
    with pytest.raises(semcluster.DataError, match="not a BootstrapResult"):
        BootstrapResult.from_json(h1_h5.to_json())
    evil = {"semcluster": {"format": 1, "state": {"__sc__": "dataclass",
                                                  "class": "os:system", "fields": {}}}}
    with pytest.raises(semcluster.DataError, match="not a semcluster class"):
        semcluster.load_result(json.dumps(evil))
    p = tmp_path / "res.json"
    p.write_text(h1_h5.to_json())
    assert SEMResult.from_json(p) == h1_h5
    assert SEMResult.from_json(str(p)) == h1_h5


# ---------------------------------------------------------------------------------------------
# SEMResult: label lookup, modindices, residuals; compare_models
# ---------------------------------------------------------------------------------------------
def test_parameter_by_label_and_by_triple(h1_h5):
    by_label = h1_h5.parameter("h1")
    assert by_label.label == "h1" and by_label.op == "~"
    by_triple = h1_h5.parameter(by_label.lhs, "~", by_label.rhs)
    pd.testing.assert_series_equal(by_label, by_triple)
    with pytest.raises(KeyError, match="no parameter labelled 'nope'.*h1"):
        h1_h5.parameter("nope")
    with pytest.raises(TypeError):
        h1_h5.parameter("IN", "~")
    assert h1_h5.parameter.__doc__ and "Parameters" in h1_h5.parameter.__doc__


def test_parameter_finds_defined_parameters():
    res = semcluster.fit("mediation_ks")
    d = res.defined()
    assert len(d)
    name = d.lhs.iloc[0]
    assert res.parameter(name).est == pytest.approx(d.est.iloc[0])


def test_modindices_and_residuals_methods(h1_h5):
    pd.testing.assert_frame_equal(h1_h5.modindices(),
                                  semcluster.modification_indices(h1_h5))
    pd.testing.assert_frame_equal(h1_h5.modindices(minimum=4, sort=False),
                                  semcluster.modification_indices(h1_h5, minimum=4,
                                                                  sort=False))
    for kind in ("raw", "normalized", "standardized"):
        pd.testing.assert_frame_equal(h1_h5.residuals(kind), semcluster.residuals(h1_h5, kind))


def test_compare_models_result_still_unpacks(results):
    cmp = results["ModelComparison"]
    table, tests, fits = cmp
    assert table is cmp.table and tests is cmp.tests and fits is cmp.results
    assert set(fits) == {"h1_h5", "revised"}
    assert cmp.best("bic") in fits
    assert list(tests.columns[:2]) == ["restricted", "full"]


# ---------------------------------------------------------------------------------------------
# spellings and exceptions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spelling, rule", [("ml", "fiml"), ("ML", "fiml"), ("ml.x", "fiml"),
                                            ("direct", "fiml"), ("fiml", "fiml"),
                                            ("listwise", "listwise")])
def test_lavaan_missing_spellings(hs, spelling, rule):
    data = hs.assign(x1=hs.x1.where(hs.index % 9 != 0))
    res = semcluster.fit(HS_MODEL, data, missing=spelling)
    assert res.data_report.missing == rule


@pytest.mark.parametrize("spelling", ["pairwise", "available.cases"])
def test_lavaan_pairwise_spellings(spelling):
    res = semcluster.fit(SMALL, estimator="wlsmv", missing=spelling)
    assert res.data_report.missing == "pairwise" and res.estimator == "WLSMV"


def test_unknown_and_unimplemented_missing_rules():
    with pytest.raises(ValueError, match="missing='two.stage'.*not implemented"):
        semcluster.fit("cfa", missing="two.stage")
    with pytest.raises(semcluster.OptionError, match="use one of ml, ml.x"):
        semcluster.fit("cfa", missing="maximum")


def test_unknown_estimator_is_a_clear_value_error():
    with pytest.raises(ValueError) as info:
        semcluster.fit("cfa", estimator="ULS")
    assert isinstance(info.value, semcluster.OptionError)
    assert "ML, MLR, WLSMV, GLS" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("exc, base", [
    ("ModelSyntaxError", ValueError), ("ModelSpecError", ValueError),
    ("DataError", ValueError), ("OptionError", ValueError), ("InputTypeError", TypeError)])
def test_exception_hierarchy(exc, base):
    cls = getattr(semcluster, exc)
    assert issubclass(cls, semcluster.SemclusterError) and issubclass(cls, base)


def test_syntax_and_data_errors_caught_as_value_error(tmp_path):
    with pytest.raises(ValueError):
        semcluster.fit("f =~ x1 + + x2")
    with pytest.raises(ValueError):
        semcluster.fit("cfa", tmp_path / "missing.csv")


# ---------------------------------------------------------------------------------------------
# bad library inputs: a semcluster error with a one-line message, never a raw Python error
# ---------------------------------------------------------------------------------------------
def _data():
    return semcluster.load_data(None)


BAD_CALLS = {
    "numpy data": (lambda: semcluster.fit("cfa", _data().to_numpy()), TypeError),
    "list data": (lambda: semcluster.fit("cfa", _data().to_numpy().tolist()), TypeError),
    "dict data": (lambda: semcluster.fit("cfa", _data().to_dict("list")), TypeError),
    "int data": (lambda: semcluster.fit("cfa", 3), TypeError),
    # estimator=None and missing=None mean "the default" (ML, or WLSMV for ordered items)
    "estimator 3": (lambda: semcluster.fit("cfa", estimator=3), TypeError),
    "estimator ULS": (lambda: semcluster.fit("cfa", estimator="ULS"), ValueError),
    "missing 3": (lambda: semcluster.fit("cfa", missing=3), TypeError),
    "n_boot 10.5": (lambda: semcluster.bootstrap("cfa", n_boot=10.5), TypeError),
    "n_boot '20'": (lambda: semcluster.bootstrap("cfa", n_boot="20"), TypeError),
    "n_boot 5": (lambda: semcluster.bootstrap("cfa", n_boot=5), ValueError),
    "bootstrap kind": (lambda: semcluster.bootstrap("cfa", n_boot=20, kind="x"), ValueError),
    "bootstrap numpy data": (lambda: semcluster.bootstrap("cfa", _data().to_numpy(),
                                                          n_boot=20), TypeError),
    "power reps 10.5": (lambda: power_analysis("h1_h5", reps=10.5), TypeError),
    "model None": (lambda: semcluster.fit(None), TypeError),
    "model dict": (lambda: semcluster.fit({"IN": "CA"}), TypeError),
    "model list": (lambda: semcluster.read_model(["f =~ a + b"]), TypeError),
    "compare_models string": (lambda: compare_models("h1_h5"), TypeError),
    "measurement numpy data": (lambda: measurement_report("cfa", _data().to_numpy()),
                               TypeError),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_library_inputs_raise_semcluster_errors(case):
    call, base = BAD_CALLS[case]
    with pytest.raises(semcluster.SemclusterError) as info:
        call()
    assert isinstance(info.value, base)
    msg = str(info.value)
    assert msg and "\n" not in msg


def test_whole_numbers_accepted():
    b = semcluster.bootstrap(SMALL, n_boot=np.int64(20), seed=3.0, bca=False)
    assert b.n_boot == 20 and b.seed == 3


# ---------------------------------------------------------------------------------------------
# the package namespace
# ---------------------------------------------------------------------------------------------
def test_dir_shows_only_public_names():
    names = dir(semcluster)
    assert names == sorted(semcluster.__all__)
    for n in names:
        assert not (n.startswith("_") and not n.startswith("__")), n
        assert not isinstance(getattr(semcluster, n), types.ModuleType), n
    for gone in ("importlib", "sys", "types", "_EXPORTS", "_Package", "annotations"):
        assert gone not in names


def test_submodule_import_keeps_functions():
    import semcluster.analysis.bootstrap  # noqa: F401
    import semcluster.fitting  # noqa: F401

    assert callable(semcluster.fit) and not isinstance(semcluster.fit, types.ModuleType)
    assert not isinstance(semcluster.bootstrap, types.ModuleType)
    with pytest.raises(AttributeError):
        semcluster.no_such_name  # noqa: B018


# ---------------------------------------------------------------------------------------------
# the command line still maps every semcluster error to exit code 2
# ---------------------------------------------------------------------------------------------
def test_cli_exit_2_for_option_errors(capsys):
    from semcluster.cli import main

    # refused by argparse at the edge (exit 2, one line naming the option and its range)
    with pytest.raises(SystemExit) as info:
        main(["bootstrap", "cfa", "--n-boot", "5", "--jobs", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--n-boot" in err and "10" in err and "Traceback" not in err


def test_cli_accepts_lavaan_missing_spelling(tmp_path, capsys):
    from semcluster.cli import main

    out = tmp_path / "res.json"
    assert main(["fit", "cfa", "--missing", "ML", "--json", str(out)]) == 0
    res = SEMResult.from_json(out)
    assert res.spec.name == "cfa"
