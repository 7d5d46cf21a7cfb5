"""The console summaries `convintel learn` prints per stored pattern (one per detector spec)."""

from dagster_pipelines.assets.who import who_summary_lines


def _who_pattern(cv_auc_learned, cv_auc_default) -> dict:
    return {
        "conversions": 12, "sample_size": 40, "baseline_rate": 0.3,
        "title_rankings": {"by_title": []}, "industry_rankings": [],
        "size_analysis": {"sweet_spot": None},
        "recommended_weights": {"source": "default", "data_quality": 0.2, "authority": 0.25,
                                "company_fit": 0.25, "timing": 0.15},
        "weights_validation": {"cv_auc_learned": cv_auc_learned, "cv_auc_default": cv_auc_default,
                               "reason": "no ALS components"},
    }


def test_who_summary_says_na_when_weight_validation_was_skipped() -> None:
    # Leads imported without ALS components: validation is skipped and its AUCs are None.
    lines = who_summary_lines(_who_pattern(None, None))
    assert lines[-1] == ("weights     default: data_quality 0.20, authority 0.25, company_fit 0.25, timing 0.15; "
                         "cv AUC learned n/a vs default n/a (no ALS components)")
    assert lines[0] == "12 booked of 40 leads with an outcome (30.0%)"


def test_who_summary_prints_measured_aucs_to_three_places() -> None:
    assert who_summary_lines(_who_pattern(0.71234, 0.65))[-1].endswith("cv AUC learned 0.712 vs default 0.650 (no ALS components)")
