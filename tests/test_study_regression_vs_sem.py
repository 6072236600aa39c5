"""Regression vs SEM table: every cell traced to an independent computation."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from semcluster import study
from semcluster.cli import main
from semcluster.study.regression_vs_sem import METHODS, compare_methods
from semcluster.analysis.regression import ols_from_correlations, stepwise_from_correlations


@pytest.fixture(scope="module")
def comp():
    return compare_methods()


def test_layout(comp):
    t = comp.table
    assert list(t.index) == ["H1", "H2", "H3", "H4", "H5"]
    assert set(m for m, _ in t.columns) == {"path"} | set(METHODS)
    assert set(comp.r2.index) == set(METHODS)
    assert len(comp.long()) == 5 * len(METHODS)
    json.dumps(comp.to_dict())


def test_published_column_is_table4(comp):
    reg = study.regression()
    for h, pred in zip(comp.table.index, study.PREDICTORS):
        assert comp.table.loc[h, ("published", "beta")] == reg.loc[pred, "beta"]
    assert comp.r2["published"] == 0.376
    assert list(comp.table[("published", "verdict")]) == [
        "supported", "not supported", "supported", "supported", "not supported"]


def test_ols_from_table2_by_hand(comp):
    # beta = Rxx^-1 rxy computed here with numpy directly
    R = study.correlations()
    P = list(study.PREDICTORS)
    b = np.linalg.solve(R.loc[P, P].to_numpy(), R.loc[P, "IN"].to_numpy())
    np.testing.assert_allclose(comp.table[("ols_table2", "beta")].astype(float), b, atol=1e-12)
    assert comp.r2["ols_table2"] == pytest.approx(b @ R.loc[P, "IN"].to_numpy())


def test_stepwise_matches_a_manual_forward_pass(comp):
    """First entry = the predictor with the largest |r| with IN (smallest entry p)."""
    R = study.correlations()
    first = R.loc[list(study.PREDICTORS), "IN"].abs().idxmax()
    step = stepwise_from_correlations(R, "IN", list(study.PREDICTORS), 160)
    assert step.steps[0][:2] == ("enter", first)
    entered = list(step.coefficients.index)
    # every left-out predictor fails the entry criterion given the entered ones
    for p in step.excluded.index:
        assert ols_from_correlations(R, "IN", entered + [p], 160).coefficients.loc[
            p, "pvalue"] >= 0.05
    verdict = comp.table[("stepwise_table2", "verdict")]
    assert all(verdict[h] == "not supported (not entered)"
               for h, p in zip(comp.table.index, study.PREDICTORS) if p not in entered)


def test_sem_and_single_indicator_columns_come_from_their_fits(comp):
    import semcluster
    from semcluster.study.summary_stats import published_single_indicator_fit

    sem = semcluster.fit("h1_h5")
    si = published_single_indicator_fit()
    for h, p in zip(comp.table.index, study.PREDICTORS):
        assert comp.table.loc[h, ("sem_data", "beta")] == pytest.approx(
            sem.parameter("IN", "~", p).std_all)
        assert comp.table.loc[h, ("si_table2", "p")] == pytest.approx(
            si.parameter("IN", "~", p).pvalue)


def test_explanation_names_the_mechanisms(comp):
    text = " ".join(comp.explanation)
    for phrase in ("Table 4 does not follow from Table 2", "attenuates",
                   "variance inflation", "Stepwise selection drops"):
        assert phrase in text


def test_compare_cli(tmp_path, capsys):
    out = tmp_path / "c.csv"
    js = tmp_path / "c.json"
    assert main(["compare", "--csv", str(out), "--json", str(js)]) == 0
    assert "Why they differ" in capsys.readouterr().out
    df = pd.read_csv(out)
    assert set(df.method) == set(METHODS)
    assert json.loads(js.read_text())["alpha"] == 0.05


def test_explanation_is_computed_from_the_data_at_hand():
    """With a user's own data the explanation quotes that data's α range and VIFs, never the
    paper's (α .62-.72, largest composite VIF 1.73); an inadmissible latent solution (the
    simulated N = 250, seed 7 sample: IN's residual variance -0.013, as lavaan finds) is said to
    be one, and no latent VIF is computed from it."""
    from semcluster.study.regression_vs_sem import compare_methods
    from semcluster.analysis.measurement import cronbach_alpha
    from semcluster.study.synthetic import simulate_items
    from semcluster import study

    df = simulate_items(250, 7)
    c = compare_methods(df)
    text = " ".join(c.explanation)
    alphas = [cronbach_alpha(df[study.item_names(k)])["alpha"] for k in study.CONSTRUCTS]
    assert f"α {min(alphas):.2f}–{max(alphas):.2f} in these data" in text
    assert "0.62–0.72" not in text and "1.73" not in text
    assert "is inadmissible" in text and "no latent variance inflation factor" in text
