"""The data report's flags on careless or unusual answers, and the audit's verdicts, each
tested on both sides of its threshold.

Data report (``semcluster.data.survey.prepare_data``; warnings are also the report's ``warnings``):

* straight-lining: a respondent giving the same answer to every model item is flagged when the
  model has 10 or more items (a long string of identical answers is the classic sign of
  careless responding: Meade & Craig 2012, Psychological Methods 17, 437-455; Curran 2016,
  J. Exp. Soc. Psychol. 66, 4-19); with fewer items a flat row is common by chance and is not
  flagged;
* repeated answer patterns (double data entry): a warning with 10 or more items, a note only
  below;
* an item with 4 or fewer distinct values treated as continuous is flagged (Rhemtulla,
  Brosseau-Liard & Savalei 2012: with five or more categories treating Likert answers as
  continuous is defensible, with fewer it is not);
* fewer than 5 rows per observed variable is flagged (Bentler & Chou 1987: at least 5 cases
  per parameter; the message cites the 5-10 rows per item rule of thumb).

Audit (``semcluster.study.audit``): printed stars against the p implied by the printed
figures; Bhatia & Davis (2000): SD² <= (M - min)(max - M)·N/(N - 1); Cronbach's α of k items
implies an average inter-item correlation r̄ = α/(k - (k - 1)α), which must be in (0, 1]; a
correlation disattenuated by √(α_a α_b) must not exceed 1 (Spearman 1904).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from semcluster.data.survey import prepare_data
from semcluster.study.audit import _alpha_rows, _grim_rows, _star_rows


def _answers(p, n=80, seed=3):
    """n rows of independent answers 1..7 to p items (no flat or repeated row by chance:
    the chance of either is below 1e-5 at these sizes)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.integers(1, 8, size=(n, p)).astype(float),
                        columns=[f"q{i + 1}" for i in range(p)])


def _warnings(df):
    _, rep = prepare_data(df, list(df.columns), warn=False)
    return rep


# (items, answers of row 5: "flat" = all 4s, "one off" = all 4s but the last, "half" = the
# first ceil(p/2) answers 4 and the rest alternating 1/7 (a long string of exactly the default
# threshold), "half - 1" = one 4 fewer; flagged?).  The rule (data._step_careless): from 10
# items on, a respondent is careless when the long-string index (careless::longstring) reaches
# ceil(p/2) (Curran 2016: half the scale length), or every answered item has one raw value.
@pytest.mark.parametrize("p, row, flagged", [
    (10, "flat", True),
    (12, "flat", True),
    (10, "one off", True),       # a run of 9 identical answers is at least 5
    (10, "half", True),          # a run of exactly 5 = ceil(10 / 2)
    (10, "half - 1", False),     # a run of 4
    (11, "half", True),          # a run of exactly 6 = ceil(11 / 2)
    (11, "half - 1", False),
    (9, "flat", False),          # below 10 items: not checked unless a threshold is given
    (9, "one off", False),
])
def test_careless_answers_are_flagged_from_a_long_string_of_half_the_items(p, row, flagged):
    import math

    df = _answers(p)
    t = math.ceil(p / 2)
    if row in ("flat", "one off"):
        df.iloc[5] = 4.0
        if row == "one off":
            df.iloc[5, -1] = 5.0
    else:
        run = t if row == "half" else t - 1
        df.iloc[5] = [4.0] * run + [1.0 if j % 2 == 0 else 7.0 for j in range(p - run)]
    rep = _warnings(df)
    hits = [w for w in rep.notes if "flagged as careless" in w]
    assert bool(hits) is flagged
    if flagged:
        assert hits[0].startswith("1 respondent(s) flagged as careless")
        assert "6" in hits[0].split(":", 1)[1].split(";")[0]       # row 6 is named
    # a warning only for one raw answer to every item (straight-lining); a long string alone
    # is a note in the data report
    warned = any("flagged as careless" in w for w in rep.warnings)
    assert warned is (flagged and row == "flat")


@pytest.mark.parametrize("p, warned", [(10, True), (11, True), (9, False), (5, False)])
def test_repeated_answer_pattern_is_a_warning_from_ten_items_and_a_note_below(p, warned):
    df = _answers(p)
    df.iloc[40] = df.iloc[7]
    rep = _warnings(df)
    msg = [n for n in rep.notes if "repeat an earlier row's answers" in n]
    assert len(msg) == 1 and "(first: row 41)" in msg[0]
    assert any("repeat an earlier row" in w for w in rep.warnings) is warned
    assert ("also happen by chance" in msg[0]) is (not warned)


@pytest.mark.parametrize("k, flagged", [(2, True), (3, True), (4, True), (5, False), (7, False)])
def test_item_with_four_or_fewer_values_is_flagged_as_continuous(k, flagged):
    df = _answers(4)
    df["q1"] = (np.arange(len(df)) % k + 1).astype(float)
    rep = _warnings(df)
    assert any(f"'q1' has only {k} distinct values" in w for w in rep.warnings) is flagged


@pytest.mark.parametrize("n, flagged", [(19, True), (20, False), (12, True), (40, False)])
def test_fewer_than_five_rows_per_item_is_flagged(n, flagged):
    rep = _warnings(_answers(4, n=n, seed=11))
    assert any(f"only {n} rows for 4 observed variables" in w for w in rep.warnings) is flagged


# ---------------------------------------------------------------------------------------------
# audit verdicts
# ---------------------------------------------------------------------------------------------
LEVELS = {"*": 0.05, "**": 0.01, "***": 0.001}


# (p of the printed model and of the perturbed matrices, printed stars, consistent?)
@pytest.mark.parametrize("ps, printed, ok", [
    ([0.049], "*", True),
    ([0.051], "*", False),            # just above .05: no star is implied
    ([0.051], "", True),
    ([0.0099], "**", True),
    ([0.0101], "**", False),
    ([0.0101], "*", True),
    ([0.0009], "***", True),
    ([0.048, 0.052], "", True),       # the rounding of the printed figures allows either
    ([0.048, 0.052], "*", True),
    ([0.048, 0.052], "**", False),
])
def test_printed_stars_must_match_an_implied_p(ps, printed, ok):
    reg = {"stars": {"A": printed}, "star_levels": LEVELS}
    rows = _star_rows(reg, [[p] for p in ps], ["A"])
    assert len(rows) == 1
    assert rows[0]["verdict"] == ("consistent" if ok else "inconsistent")


# Bhatia-Davis: the largest SD of N = 102 answers on [1, 7] with mean 4 is
# √(3·3·102/101) = 3.01482; a printed 3.015 stands for [3.0145, 3.0155), so it is possible
@pytest.mark.parametrize("sd, ok", [(3.014, True), (3.015, True), (3.016, False), (2.0, True),
                                    (3.5, False)])
def test_sd_larger_than_the_mean_allows_is_inconsistent(sd, ok):
    n = 102
    s_max = math.sqrt(9 * n / (n - 1))
    assert 3.0145 < s_max < 3.015
    pub = {"means": {"X": 4.0}, "sds": {"X": sd}, "n_items": {"X": 1}, "scale": [1, 7]}
    rows = [r for r in _grim_rows(pub, n, 3) if r["check"].startswith("SD possible")]
    assert rows[0]["verdict"] == ("consistent" if ok else "inconsistent")
    assert rows[0]["recomputed"] == pytest.approx(s_max)


@pytest.mark.parametrize("alpha, k, ok", [
    (0.80, 4, True),      # r̄ = .8/(4 − 2.4) = .5
    (0.99, 4, True),
    (1.00, 4, True),      # r̄ = 1: the upper end is allowed
    (1.01, 4, False),
    (0.05, 4, True),      # r̄ = .0130
    (-0.10, 4, False),    # negative α: r̄ < 0
])
def test_alpha_must_imply_an_average_correlation_in_0_1(alpha, k, ok):
    pub = {"alpha": {"X": alpha}, "n_items": {"X": k}}
    R = pd.DataFrame([[1.0]], index=["X"], columns=["X"])
    rows = [r for r in _alpha_rows(pub, R) if r["check"] == "alpha vs item count"]
    assert rows[0]["verdict"] == ("consistent" if ok else "inconsistent")
    assert rows[0]["recomputed"] == pytest.approx(alpha / (k - (k - 1) * alpha))


# r / √(.81 · .64) = r / .72
@pytest.mark.parametrize("r, ok", [(0.70, True), (0.719, True), (0.721, False), (-0.719, True),
                                   (-0.721, False)])      # beyond -1 is impossible too
def test_disattenuated_correlation_above_one_is_inconsistent(r, ok):
    pub = {"alpha": {"A": 0.81, "B": 0.64}, "n_items": {"A": 4, "B": 4}}
    R = pd.DataFrame([[1.0, r], [r, 1.0]], index=["A", "B"], columns=["A", "B"])
    rows = {r_["check"]: r_ for r_ in _alpha_rows(pub, R)}
    worst = rows["largest disattenuated correlation"]
    assert worst["recomputed"] == pytest.approx(r / 0.72)
    assert worst["verdict"] == ("consistent" if ok else "inconsistent")
    assert ("disattenuated correlation <= 1" in rows) is (not ok)


def test_alpha_checks_with_one_scale_or_a_negative_alpha_give_verdicts_not_errors():
    """One published α (no pair to disattenuate), and a negative α beside a positive one (no
    square root of a negative product): each α still gets its verdict."""
    R = pd.DataFrame([[1.0, 0.3], [0.3, 1.0]], index=["A", "B"], columns=["A", "B"])
    rows = _alpha_rows({"alpha": {"A": 0.8}, "n_items": {"A": 4}}, R)
    assert [r["verdict"] for r in rows] == ["consistent"]
    rows = _alpha_rows({"alpha": {"A": -0.1, "B": 0.8}, "n_items": {"A": 4, "B": 4}}, R)
    assert [(r["item"], r["verdict"]) for r in rows] == [("A", "inconsistent"),
                                                         ("B", "consistent")]


# ---------------------------------------------------------------------------------------------
# ordinal items and variances (lavaan warns when observed variances differ by more than a
# factor 1000: lav_data_full's "some observed variances are (at least) a factor 1000 times
# larger than others"; semcluster stops beyond 1e6)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, flagged", [(10, False), (11, True), (7, False), (15, True)])
def test_ordinal_item_with_more_than_ten_categories_is_flagged(k, flagged):
    df = _answers(3, n=120)
    df["q1"] = (np.arange(len(df)) % k + 1).astype(float)      # every category 8+ times
    _, rep = prepare_data(df, list(df.columns), ordered=["q1"], warn=False)
    assert any(f"ordinal item 'q1' has {k} categories" in w for w in rep.warnings) is flagged


@pytest.mark.parametrize("answers_in_7, flagged", [(1, True), (2, False), (5, False)])
def test_ordinal_category_with_a_single_answer_is_flagged(answers_in_7, flagged):
    df = _answers(3, n=60)
    q1 = (np.arange(60) % 6 + 1).astype(float)                 # categories 1..6
    q1[:answers_in_7] = 7.0
    df["q1"] = q1
    _, rep = prepare_data(df, list(df.columns), ordered=["q1"], warn=False)
    assert any("ordinal item 'q1': category 7 has a single answer" in w
               for w in rep.warnings) is flagged


@pytest.mark.parametrize("factor, outcome", [
    (math.sqrt(1000) * 0.99, "quiet"),       # variance ratio 980
    (math.sqrt(1000) * 1.01, "warning"),     # 1020
    (999.0, "warning"),                      # 998,001
    (1001.0, "error"),                       # 1,002,001
])
def test_variances_differing_by_more_than_1000_warn_and_by_more_than_a_million_stop(factor,
                                                                                       outcome):
    from semcluster import DataError

    base = _answers(1, n=90)["q1"].to_numpy()
    rng = np.random.default_rng(5)
    # the same answers in other orders: equal variances, so the ratio is factor²
    df = pd.DataFrame({"q1": base * factor, "q2": rng.permutation(base),
                       "q3": rng.permutation(base)})
    if outcome == "error":
        with pytest.raises(DataError, match="times that of"):
            prepare_data(df, list(df.columns), warn=False)
        return
    _, rep = prepare_data(df, list(df.columns), warn=False)
    assert any("more than 1000 times larger" in w for w in rep.warnings) is (outcome == "warning")
