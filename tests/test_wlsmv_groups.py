"""Multi-group WLSMV (lavaan's ``group=`` with ``ordered=``) beyond the estimator matrix: the
nested-model test of the loadings-and-thresholds model against the configural one, and the
command line.

Reference: lavaan 0.6.14, ``lavTestLRT(configural, equal)`` stored as ``lrt_configural`` in
tests/fixtures/matrix/wlsmv_groups3_equal.json (tests/fixtures/matrix/make_wlsmv_equal.R;
lavaan's default for a scaled-shifted test, method = "satorra.2000").  The fits themselves are
compared parameter by parameter in tests/test_estimator_matrix.py.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

import semcluster
from semcluster.cli import main
from semcluster.analysis.model_comparison import chisq_difference

FIX = Path(__file__).parent / "fixtures" / "matrix"
DATA = FIX / "hs39_matrix_ordinal.csv"
REF = json.loads((FIX / "wlsmv_groups3_equal.json").read_text())


def _fit(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return semcluster.fit(REF["model"], pd.read_csv(DATA), ordered="all", group="agegrp",
                              **kw)


def test_grouped_wlsmv_difference_test_equals_lavaans_satorra_2000():
    """Equal loadings and thresholds against the configural model: lavaan's satorra.2000
    scaled-shifted difference (27.84 on 24 df), not the plain difference of the two χ²."""
    equal = _fit(group_equal=["loadings", "thresholds"])
    configural = _fit()
    out = chisq_difference(equal, configural)
    ref = REF["lrt_configural"]
    assert out["df_diff"] == ref["df_diff"]
    assert out["chisq_diff"] == pytest.approx(ref["chisq_diff"], rel=1e-6)
    assert out["pvalue"] == pytest.approx(ref["pvalue"], abs=1e-5)
    plain = equal.fit_measures["chisq"] - configural.fit_measures["chisq"]
    assert abs(plain - ref["chisq_diff"]) > 1.0
    assert "satorra.2000" in out["test"]


def test_fit_command_fits_wlsmv_with_groups(tmp_path, capsys):
    """`semcluster fit --ordered all --group agegrp` prints the three groups and lavaan's
    scaled test; --group-equal loadings,thresholds fits the invariance model."""
    model = tmp_path / "cfa.lav"
    model.write_text(REF["model"] + "\n")
    assert main(["fit", str(model), "--data", str(DATA), "--ordered", "all",
                 "--group", "agegrp"]) in (0, None)
    out = capsys.readouterr().out
    for label in ("age13", "age12", "age14plus"):
        assert f"[{label}]" in out
    assert "Estimator" in out and "DWLS" in out and "Scaled" in out
    assert main(["fit", str(model), "--data", str(DATA), "--ordered", "all",
                 "--group", "agegrp", "--group-equal", "loadings,thresholds"]) in (0, None)
    out = capsys.readouterr().out
    # groups 2 and 3 print their estimated scale factors once each (no fixed 1.000 beside)
    scales = out.split("Scales y*:")
    assert len(scales) == 4
    for block in scales[2:]:
        rows = block.split("R-Square:")[0].strip().splitlines()[1:]
        assert len(rows) == 9 and all(len(r.split()) == 5 for r in rows)


def test_fit_command_refuses_a_wlsmv_group_constraint_it_does_not_fit(tmp_path, capsys):
    """group.equal = residuals (no parameters of ordinal items in the delta
    parameterization): exit 2, a one-line message."""
    model = tmp_path / "cfa.lav"
    model.write_text(REF["model"] + "\n")
    assert main(["fit", str(model), "--data", str(DATA), "--ordered", "all", "--group",
                 "agegrp", "--group-equal", "loadings,residuals"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "group_equal = residuals" in err[0]


def test_a_group_where_an_item_has_one_category_is_named_in_the_error():
    """Each group has its own thresholds: an item with one answer category in one group
    cannot be fitted there, and the one-line message says which group."""
    from semcluster.errors import DataError

    data = pd.read_csv(DATA)
    data.loc[data.agegrp == "age12", "x1"] = 2
    with pytest.raises(DataError) as info:
        semcluster.fit(REF["model"], data, ordered="all", group="agegrp")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("group 'age12': ") and "'x1'" in msg


def test_missing_answers_with_groups_drop_the_rows_and_say_so():
    """WLSMV with groups has no pairwise rule: by default rows with a blank are left out
    (lavaan's listwise default) and the data report says so; pairwise is refused."""
    from semcluster.errors import OptionError

    data = pd.read_csv(DATA)
    data.loc[data.index[::17], "x3"] = float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = semcluster.fit(REF["model"], data, ordered="all", group="agegrp")
    assert res.nobs == len(data) - len(data.index[::17])
    assert any("listwise" in n for n in res.data_report.notes)
    with pytest.raises(OptionError, match="missing='pairwise' is not implemented"):
        semcluster.fit(REF["model"], data, ordered="all", group="agegrp", missing="pairwise")


def test_modification_indices_of_a_grouped_wlsmv_fit_are_refused_in_one_line():
    """No ML score test on the polychorics passed off as lavaan's DWLS one: a clear refusal
    (it was an IndexError)."""
    from semcluster.errors import OptionError

    res = _fit()
    with pytest.raises(OptionError) as info:
        res.modindices()
    assert "\n" not in str(info.value) and "multi-group WLSMV" in str(info.value)


def test_invariance_with_ordered_items_is_refused_not_fitted_as_continuous(tmp_path, capsys):
    """`semcluster invariance --ordered` used to fit the ML sequence with the ordinal items
    as continuous, silently: now one line names the WLSMV route; without --ordered the
    sequence still runs."""
    model = tmp_path / "cfa.lav"
    model.write_text(REF["model"] + "\n")
    assert main(["invariance", str(model), "--data", str(DATA), "--group", "agegrp",
                 "--ordered", "all"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--group-equal loadings,thresholds" in err[0]
    assert main(["invariance", str(model), "--data", str(DATA),
                 "--group", "agegrp"]) in (0, None)


def test_fit_command_frees_a_loading_and_a_threshold_with_group_partial(tmp_path, capsys):
    """`--group-partial "visual=~x2,x3|t1"` with loadings and thresholds equal: the printed
    statistics are lavaan's for group.partial = c("visual=~x2", "x3|t1")
    (wlsmv_groups3_partial.json, make_wlsmv_equal_more.R)."""
    ref = json.loads((FIX / "wlsmv_groups3_partial.json").read_text())["fit_measures_all"]
    model = tmp_path / "cfa.lav"
    model.write_text(REF["model"] + "\n")
    assert main(["fit", str(model), "--data", str(DATA), "--ordered", "all", "--group",
                 "agegrp", "--group-equal", "loadings,thresholds",
                 "--group-partial", "visual=~x2, x3|t1"]) in (0, None)
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("Test Statistic"))
    standard, scaled = (float(v) for v in line.split()[-2:])
    assert standard == pytest.approx(ref["chisq"], abs=6e-4)
    assert scaled == pytest.approx(ref["chisq_scaled"], abs=6e-4)
    npar = next(x for x in out.splitlines() if "Number of model parameters" in x)
    assert int(npar.split()[-1]) == ref["npar"]


def test_constraints_across_groups_with_continuous_items_are_refused_in_one_line():
    """Continuous items fit the configural model only: group_equal with them is refused with
    a message naming them (not a first-stage complaint about whole-number categories)."""
    from semcluster.errors import OptionError

    data = pd.read_csv(DATA)
    data[["x7", "x8", "x9"]] = pd.read_csv(FIX / "hs39_matrix.csv")[["x7", "x8", "x9"]]
    with pytest.raises(OptionError) as info:
        semcluster.fit(REF["model"], data, ordered=[f"x{i}" for i in range(1, 7)],
                       group="agegrp", group_equal=["loadings"])
    msg = str(info.value)
    assert "\n" not in msg and "continuous items (x7, x8, x9)" in msg
