"""The statistics core's fast paths give scipy's numbers bit for bit: Fisher's exact test, the BH
adjustment and the χ² survival function are re-stated without scipy's per-call dispatch
(detectors.stats.significance), so equality here is exact (==), not approximate."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import special, stats

from detectors.stats import benjamini_hochberg, p_values_against_rest, rank_categories, to_records
from detectors.stats.significance import _fisher_p_value


def test_fisher_two_sided_equals_scipy_exactly_on_every_small_table_and_on_large_ones() -> None:
    tables = list(itertools.product(range(5), repeat=4))
    rng = np.random.default_rng(5)
    for _ in range(150):
        n_in, n_out, rate = int(rng.integers(1, 3000)), int(rng.integers(1, 60000)), rng.uniform(0, 0.3)
        converted_in, converted_out = int(rng.binomial(n_in, rate)), int(rng.binomial(n_out, rate * rng.uniform(0.5, 2)))
        tables.append((converted_in, n_in - converted_in, converted_out, n_out - converted_out))
    for table in tables:
        expected = float(stats.fisher_exact(np.array(table).reshape(2, 2)).pvalue)
        assert _fisher_p_value.__wrapped__(*table) == expected, table


def test_benjamini_hochberg_equals_scipy_exactly_with_ties_zeros_and_ones() -> None:
    rng = np.random.default_rng(3)
    for trial in range(500):
        p = rng.random(int(rng.integers(2, 40)))
        if trial % 2:
            p = np.round(p, 2)
        p[rng.random(len(p)) < 0.2] = 0.0
        p[rng.random(len(p)) < 0.1] = 1.0
        assert np.array_equal(benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"))


def test_chi_square_path_equals_chi2_sf_exactly() -> None:
    # Expected cells all >= 5: the χ² branch, whose p-value is chdtrc(1, X²) = chi2.sf(X², 1).
    converted_in, n_in = np.array([30.0, 55.0, 80.0]), np.array([300.0, 400.0, 500.0])
    converted_out, n_out = np.array([100.0, 90.0, 70.0]), np.array([1000.0, 900.0, 800.0])
    total, converted = n_in + n_out, converted_in + converted_out
    pearson = total * (converted_in * (n_out - converted_out) - converted_out * (n_in - converted_in)) ** 2 / (
        n_in * n_out * converted * (total - converted))
    assert np.array_equal(p_values_against_rest(converted_in, n_in, converted_out, n_out), stats.chi2.sf(pearson, df=1))
    x = np.random.default_rng(1).exponential(3, 1000)
    assert np.array_equal(special.chdtrc(1.0, x), stats.chi2.sf(x, df=1))


def test_to_records_gives_each_columns_cells() -> None:
    ranking = rank_categories(pd.DataFrame({"c": ["a", "b", "c", "d"], "sample": [40, 60, 3, 80],
                                            "conversions": [4, 12, 1, 4]}), category_col="c", baseline_rate=0.1)
    per_column = [dict(zip(ranking.columns, row)) for row in zip(*(ranking[c].to_numpy(dtype=object) for c in ranking))]
    records = to_records(ranking)
    assert [list(r) for r in records] == [list(ranking.columns)] * 4
    assert [r["category"] for r in records] == [row["category"] for row in per_column]
    assert records[-1]["rank"] is None and records[-1]["label"] is None and records[-1]["is_ranked"] is False
    assert to_records(ranking.iloc[:, 0:0]) == []
