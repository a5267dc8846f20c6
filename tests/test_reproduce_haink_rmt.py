"""The haink-svd / haink-hessian reproductions: catalog entries and configs, every check can fail
(fed data that contradicts the thesis it gives DIFFERS with a reason), and a tiny end-to-end run
of each writes the report with computed verdicts."""

from __future__ import annotations

import copy
import json

import pytest

from landscope.reproduce import Verdict, get_reproduction, load_reproduction_config
from landscope.reproduce import _haink_hessian as hes
from landscope.reproduce import _haink_svd as svd


@pytest.mark.parametrize("name", ["haink-svd", "haink-hessian"])
def test_entries_and_their_configs(name):
    entry = get_reproduction(name)
    assert entry.paper.startswith("Haink") and entry.minutes[0] < entry.minutes[1]
    for cfg in entry.configs:
        load_reproduction_config(cfg)  # validates


def _assert_each_check_can_fail(checks_of, good: dict, mutations: dict) -> None:
    checks = [c for c in checks_of(good) if c.verdict is not Verdict.NOT_OFFLINE]
    assert all(c.passed for c in checks), [c.claim for c in checks if not c.passed]
    assert set(mutations) == set(range(len(checks))), "every check needs a failing mutation"
    for i, mutate in mutations.items():
        r = copy.deepcopy(good)
        mutate(r)
        c = checks_of(r)[i]
        assert c.verdict is Verdict.DIFFERS and c.reason, (i, c.claim)


def _svd_run(outliers=2, wd=False) -> dict:
    names = ["layers.0.weight", "layers.1.weight"]
    return {
        "matrices": names,
        "large_matrices": names,
        "n_outliers": dict.fromkeys(names, outliers),
        "n_singular": dict.fromkeys(names, 64),
        "bulk_ks": dict.fromkeys(names, 0.03),
        "init_n_outliers": dict.fromkeys(names, 0),
        "wigner_p": dict.fromkeys(names, 0.5),
        "wigner_closer": dict.fromkeys(names, "wigner"),
        "sigma_mp": dict.fromkeys(names, 0.5 if wd else 1.0),
        "top_singular": dict.fromkeys(names, 9.5 if wd else 10.0),
        "accuracy": 0.95,
        "accuracy_bulk_removed": 0.94,
    }


def test_svd_checks_can_fail():
    good = {"runs": {"mlp256-digits": _svd_run(), "mlp256-digits-wd": _svd_run(wd=True)}}
    p = "mlp256-digits"

    def setp(key, value, run=p, name="layers.1.weight"):
        def mutate(r):
            r["runs"][run][key][name] = value

        return mutate

    mutations = {
        0: setp("n_outliers", 0),
        1: setp("init_n_outliers", 1),
        2: lambda r: r["runs"][p].update(accuracy_bulk_removed=0.5),
        3: setp("wigner_p", 1e-4),
        4: setp("sigma_mp", 0.96, run="mlp256-digits-wd"),
    }
    _assert_each_check_can_fail(svd.svd_checks, good, mutations)
    # a bulk that is not MP-shaped fails the first check too
    bad = copy.deepcopy(good)
    bad["runs"][p]["bulk_ks"]["layers.0.weight"] = 0.3
    assert svd.svd_checks(bad)[0].verdict is Verdict.DIFFERS


def _good_hessian() -> dict:
    layer = {
        "n": 512,
        "n_outliers": 3,
        "HPw_spearman": 0.6,
        "HPv_spearman": 0.8,
        "HPw_width": 0.2,
        "HPv_width": 0.1,
        "F_outlier_index": 5.0,
        "F_bulk_index": 200.0,
        "wp_top": 1e-4,
        "wp_rest": 2e-3,
        "wp_init_on_final_top": 1e-3,
        "wp_init_on_final_rest": 2e-3,
        "init_wp_top": 1e-3,
        "init_wp_rest": 2e-3,
        "init_top_over_median": 1e4,
        "pt_max_avg": 0.01,
        "ipr": {"init": [0.05, 0.01, 0.05, 0.005], "last": [0.05, 0.01, 0.05, 0.005]},
        "rebuild_count_99": 50,
        "rebuild_fraction_99": 0.1,
        "test_accuracy": 0.9,
    }
    wd = dict(layer, wp_top=1.5e-3)
    line = {"max_rel_error_quadratic_near": 0.01, "loss_at_removed": 0.1, "loss_at_w": 0.09}
    net = {
        "n": 2000,
        "L_top_overlap": 0.3,
        "L_random": 0.005,
        "Fnet_outlier_index": 10.0,
        "Fnet_bulk_index": 900.0,
        "n_outliers": 2,
        "top_over_median": 1e4,
        "negative_fraction": 0.1,
        "wigner_p": 1e-20,
        "pt_median": 1e-30,
        "pt_max_avg": 1e-10,
        "layers": ["layers.0", "layers.1", "layers.2"],
        "layer_expected": [0.7, 0.2, 0.1],
        "shares_top10": [0.3, 0.3, 0.4],
        "shares_bottom10": [0.9, 0.08, 0.02],
        "top_line": line,
        "big_line": line,
        "top4_alpha_min": [0.0, 0.05, -0.05, 0.1],
        "alpha_step": 0.1,
        "top_removal_cost": 0.01,
        "big_removal_cost": 0.5,
    }
    return {"layer": {"plain": layer, "wd": wd}, "network": net}


def test_hessian_checks_can_fail():
    def lay(key, value, run="plain"):
        return lambda r: r["layer"][run].update({key: value})

    def net(key, value):
        return lambda r: r["network"].update({key: value})

    mutations = {
        0: lay("HPv_width", 0.25),
        1: lay("wp_top", 3e-3),
        2: lay("wp_top", 1e-5, run="wd"),
        3: lay("rebuild_fraction_99", 0.5),
        4: lay("F_outlier_index", float("nan")),
        5: net("L_top_overlap", 0.02),
        6: net("top_removal_cost", 1.0),
        7: lambda r: r["network"]["top_line"].update(max_rel_error_quadratic_near=0.5),
        8: net("top4_alpha_min", [0.0, 0.3, 0.0, 0.0]),
        9: net("Fnet_outlier_index", 1000.0),
        10: net("negative_fraction", 0.4),
        11: net("wigner_p", 0.3),
        12: net("pt_median", 0.2),
        13: lay("pt_max_avg", 0.3),
        14: net("shares_top10", [0.8, 0.15, 0.05]),
        15: lay("wp_init_on_final_top", 5e-3),
        16: lay("init_top_over_median", 10.0),
        17: lambda r: r["layer"]["plain"]["ipr"].update(init=[0.005, 0.01, 0.05, 0.005]),
        18: lambda r: r["layer"]["plain"]["ipr"].update(last=[0.05, 0.001, 0.05, 0.005]),
    }
    _assert_each_check_can_fail(hes.hessian_checks, _good_hessian(), mutations)
    assert hes.hessian_checks(_good_hessian())[-1].verdict is Verdict.NOT_OFFLINE


TINY = {"model": {"name": "mlp", "options": {"widths": [12, 10], "activation": "relu"}}}


def test_haink_svd_tiny_end_to_end(tmp_path):
    res = svd.haink_svd(
        tmp_path,
        quick=True,
        progress=False,
        overrides={**TINY, "runs": ["mlp50-digits"], "budget": {"mlp50_epochs": 2}},
    )
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["checks"]) == 4 and all(c["verdict"] for c in saved["checks"])
    assert len(res["runs"]["mlp50-digits"]["matrices"]) == 3  # 12x64, 10x12, 10x10
    assert (tmp_path / "report.md").exists()


def test_haink_hessian_tiny_end_to_end(tmp_path):
    budget = {
        "mlp256_widths": (8, 8, 8),
        "mlp256_epochs": 1,
        "window": 1,
        "mlp50_widths": (6, 6),
        "mlp50_epochs": 1,
        "hessian_samples": 64,
    }
    hes.haink_hessian(
        tmp_path, quick=True, progress=False, overrides={"budget": budget, "figures": False}
    )
    saved = json.loads((tmp_path / "results.json").read_text())
    verdicts = {c["verdict"] for c in saved["checks"]}
    assert len(saved["checks"]) == 20 and verdicts <= {
        "reproduced",
        "differs",
        "not reproducible offline",
    }
    assert saved["layer"]["plain"]["n"] == 64 and saved["network"]["n"] == 64 * 6 + 6 + 42 + 70
