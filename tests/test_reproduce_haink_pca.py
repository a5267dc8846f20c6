"""The haink-pca / haink-drift / haink-pca-variants reproductions: catalog entries and configs,
every check can fail (fed data that contradicts the thesis it gives DIFFERS with a reason), and
tiny end-to-end runs write the report with computed verdicts."""

from __future__ import annotations

import copy
import json

import pytest

from landscope.reproduce import Verdict, get_reproduction, load_reproduction_config
from landscope.reproduce import _haink_drift as drift_mod
from landscope.reproduce import _haink_pca as pca_mod
from landscope.reproduce import _haink_variants as var_mod

NAMES = ("haink-pca", "haink-drift", "haink-pca-variants")


@pytest.mark.parametrize("name", NAMES)
def test_entries_and_their_configs(name):
    entry = get_reproduction(name)
    assert entry.paper.startswith("Haink") and entry.minutes[0] < entry.minutes[1]
    for cfg in entry.configs:
        load_reproduction_config(cfg)  # validates


def test_window_config_records_every_step_of_the_last_epochs():
    cfg, start, total = pca_mod.window_config("pca_mlp256_wd", epochs=5, window=2)
    base = load_reproduction_config("haink/pca_mlp256_wd")
    assert total == 5 * 44 and start == 3 * 44  # 1,438 digits // 32 = 44 steps an epoch
    steps = cfg["record"]["params"]["steps"]
    assert steps == list(range(start, total + 1)) and cfg["record"]["params"]["every"] == 44
    for key in ("model", "optimizer", "schedule", "init", "loss", "data"):
        assert cfg[key] == base[key], key
    assert base["optimizer"]["weight_decay"] == 1e-3  # Keras l2(5e-4) = our lambda / 2
    assert not base["optimizer"]["weight_decay_on_bias"]


def _assert_each_check_can_fail(checks_of, good: dict, mutations: dict) -> None:
    checks = checks_of(good)
    assert all(c.passed for c in checks), [c.claim for c in checks if not c.passed]
    assert set(mutations) == set(range(len(checks))), "every check needs a failing mutation"
    for i, mutate in mutations.items():
        r = copy.deepcopy(good)
        mutate(r)
        c = checks_of(r)[i]
        assert c.verdict is Verdict.DIFFERS and c.reason, (i, c.claim)


def _good_pca() -> dict:
    plain = {
        "S_top_pcs_outlier_over_bulk": 3.0,
        "mp_outliers": 4,
        "S_pc1_spearman": -0.8,
        "S_pc1_outlier_mass": 0.8,
        "rebuild_pc1_fraction": 0.9,
        "rebuild_pcs_for_99pct": 2,
        "components": 30,
        "pc1_r2": 0.99,
        "pc2to5_max_r2": 0.3,
        "pc1_eq66_ratio": 0.99,
        "abs_theta1_trend": 1e-3,
        "norm_trend": 1e-3,
        "cos_p1_w": 0.7,
        "train_accuracy": 1.0,
        "line_delta_min_over_travel": 1.0,
        "line_delta_min_over_theta1": 0.02,
        "line_gap_over_depth": 0.01,
        "scale_layer_decreasing": True,
        "scale_layer_exp_r2": 0.99,
        "scale_network_alpha_min_total": 1.5,
        "scale_network_power_total": 1.0,
        "hessian_k": 10,
        "HPv_top_subspace": 0.9,
        "HPw_top_subspace": 0.5,
    }
    wd = dict(plain)
    wd.update(
        S_pc1_outlier_mass=0.2,
        rebuild_pc1_fraction=0.3,
        rebuild_pcs_for_99pct=25,
        abs_theta1_trend=-1e-3,
        norm_trend=-1e-3,
        scale_network_alpha_min_total=1.0,
        scale_network_power_total=2.0,
    )
    return {"runs": {"plain": plain, "wd": wd}}


def _set(run: str, **values):
    return lambda r: r["runs"][run].update(values)


def test_pca_checks_can_fail():
    mutations = {
        0: _set("plain", S_top_pcs_outlier_over_bulk=0.9),
        1: _set("plain", S_pc1_spearman=0.1),
        2: _set("wd", S_pc1_outlier_mass=0.6),
        3: _set("plain", rebuild_pc1_fraction=0.2),
        4: _set("wd", rebuild_pcs_for_99pct=1),
        5: _set("wd", pc1_r2=0.5),
        6: _set("wd", pc2to5_max_r2=0.995),
        7: _set("plain", pc1_eq66_ratio=0.5),
        8: _set("wd", norm_trend=1e-4),
        9: _set("plain", cos_p1_w=0.2),
        10: _set("wd", line_delta_min_over_theta1=-0.01),
        11: _set("plain", scale_layer_decreasing=False),
        12: _set("wd", scale_network_power_total=4.0),
        13: _set("plain", HPv_top_subspace=0.4),
    }
    _assert_each_check_can_fail(pca_mod.pca_checks, _good_pca(), mutations)
    # a missing PC count (not reached within k) with weight decay still counts as "more"
    r = _good_pca()
    r["runs"]["wd"]["rebuild_pcs_for_99pct"] = None
    assert pca_mod.pca_checks(r)[4].passed


def _good_drift() -> dict:
    return {
        "fig6_5": {
            "slope_ratio": 0.2,
            "epochs_analyzed": 540,
            "r2_line": 0.95,
            "lr_ratio": 0.01,
        },
        "scaling": {
            "exponent_lr": 2.1,
            "exponent_lr_stderr": 0.1,
            "exponent_T": 1.9,
            "exponent_T_stderr": 0.1,
        },
        "quadratic": {
            "sigma_d2_predicted": 2e-4,
            "sigma1_2_measured": 1e-4,
            "k": 10,
            "coverage": 0.5,
        },
    }


def test_drift_checks_can_fail():
    def set_(part, **values):
        return lambda r: r[part].update(values)

    mutations = {
        0: set_("fig6_5", slope_ratio=0.9),
        1: set_("scaling", exponent_lr=1.0),
        2: set_("scaling", exponent_T=1.0),
        3: set_("quadratic", sigma_d2_predicted=1e-7),
    }
    _assert_each_check_can_fail(drift_mod.drift_checks, _good_drift(), mutations)


def _good_variants() -> dict:
    runs = {}
    for label, *_ in var_mod.VARIANTS:
        wd = "_wd_" in label
        runs[label] = {
            "pc1_r2": 0.99,
            "norm_trend": -1.0 if wd else 1.0,
            "rebuild_pc1_fraction": 0.3 if wd else 0.9,
        }
    return {"runs": runs}


def test_variants_checks_can_fail():
    mutations = {
        0: lambda r: r["runs"]["mlp50_mnist1d"].update(pc1_r2=0.2),
        1: lambda r: r["runs"]["mlp256_wd_digits"].update(norm_trend=0.5),
        2: lambda r: r["runs"]["mlp50_wd_digits"].update(rebuild_pc1_fraction=0.95),
    }
    _assert_each_check_can_fail(var_mod.variants_checks, _good_variants(), mutations)
    r = _good_variants()
    r["runs"]["mlp50_mnist1d"]["pc1_r2"] = 0.2
    assert "mlp50_mnist1d" in var_mod.variants_checks(r)[0].reason


TINY = {"model": {"options": {"widths": [8, 8, 6]}}}


def test_haink_pca_tiny_run_reports_verdicts(tmp_path):
    budget = {
        "epochs": 3,
        "window": 1,
        "components": 4,
        "hessian_k": 3,
        "hessian_samples": 64,
        "points": 5,
    }
    res = pca_mod.haink_pca(
        tmp_path, quick=True, progress=False, overrides={**TINY, "budget": budget}
    )
    assert len(res["checks"]) == 14
    assert {c["verdict"] for c in res["checks"]} <= {v.value for v in Verdict}
    plain = res["runs"]["plain"]
    assert plain["snapshots"] == 45 and plain["components"] == 4
    assert 0 <= plain["cos_p1_w"] <= 1 and plain["hessian_k"] == 3
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["checks"] == res["checks"]
    assert (tmp_path / "report.md").read_text().count("![") >= 8
    for label in ("plain", "wd"):
        assert (tmp_path / label / "pca" / "figures.json").exists()


def test_haink_drift_tiny_run_reports_verdicts(tmp_path):
    budget = {"epochs": 4, "window": 1, "lrs": (0.01, 0.02), "hessian_k": 2, "hessian_samples": 64}
    res = drift_mod.haink_drift(
        tmp_path, quick=True, progress=False, overrides={**TINY, "budget": budget}
    )
    assert len(res["checks"]) == 4 and len(res["windows"]) == 6
    assert {w["T"] for w in res["windows"]} == {11, 22, 45}
    assert res["quadratic"]["k"] == 2
    assert (tmp_path / "report.html").exists()
