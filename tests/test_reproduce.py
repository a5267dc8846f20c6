"""The Gur-Ari reproductions as catalog entries: configs from the shipped YAML (quick = a small
override), tiny runs whose reported numbers are the ones in the run folders, and checks whose
verdicts flip to DIFFERS when fed false numbers (every check can fail)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
import pytest

import landscope
from landscope.reproduce import (
    Verdict,
    catalog,
    config_path,
    get_reproduction,
    load_reproduction_config,
)
from landscope.reproduce import _gurari_fig2 as fig2_mod
from landscope.reproduce import _gurari_optim as optim_mod
from landscope.reproduce import _gurari_table1 as table1_mod
from landscope.reproduce import _gurari_toy as toy_mod

GURARI = ("gurari-fig2", "gurari-optimizers", "gurari-spectrum", "gurari-table1", "gurari-toy")
TINY_NET = {"model": {"name": "mlp", "options": {"widths": [12]}}}


# --- the catalog --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", GURARI)
def test_gurari_entries_are_in_the_catalog(name):
    entry = get_reproduction(name)
    assert entry in catalog() and entry.paper.startswith("Gur-Ari")
    assert entry.items and entry.description and callable(entry.run)
    quick, full = entry.minutes
    assert 0 < quick < full
    for cfg in entry.configs:  # each names a shipped YAML that validates
        assert config_path(cfg).is_file()
        assert load_reproduction_config(cfg)["name"].startswith("gurari-")


def test_unknown_entry_names_the_catalog():
    with pytest.raises(KeyError, match="gurari-table1"):
        get_reproduction("gurari-nope")


# --- configs: the YAML is the source, quick is a small override ---------------------------------
def _without(cfg: dict, *paths: tuple[str, ...]) -> dict:
    cfg = copy.deepcopy(cfg)
    for path in paths:
        node = cfg
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1])
    return cfg


@pytest.mark.parametrize("row", table1_mod.TABLE1_ROWS, ids=lambda r: r.key)
def test_table1_quick_config_changes_only_the_plan(row):
    full = table1_mod.table1_config(row)
    quick = table1_mod.table1_config(row, quick=True)
    assert full == load_reproduction_config(row.config)
    assert table1_mod.table1_plan(full) == {"steps": 3000, "window": 1000, "every": 1}
    assert table1_mod.table1_plan(quick) == table1_mod.TABLE1_QUICK
    assert quick["analyses"][0]["options"]["random_vectors"] == 1
    strip = (("training", "steps"), ("analyses",))
    assert _without(quick, *strip) == _without(full, *strip)


def test_fig2_quick_config_changes_only_steps_and_stored_eigenvectors():
    full, quick = fig2_mod.fig2_config(), fig2_mod.fig2_config(quick=True)
    assert full["training"]["steps"] == 2000 and quick["training"]["steps"] == 400
    assert full["analyses"][0]["options"]["store_eigenvectors"] == 2
    opts = quick["analyses"][0]["options"]
    assert opts == {"k": 10, "num_next": 10, "store_eigenvectors": 1, "random_vectors": 4}
    strip = (("training", "steps"), ("analyses",))
    assert _without(quick, *strip) == _without(full, *strip)
    tiny = fig2_mod.fig2_config(quick=True, **TINY_NET, training={"steps": 60})
    assert tiny["training"] == {"batch_size": 64, "steps": 60}
    assert tiny["model"]["options"]["widths"] == [12]


def test_optimizer_configs_add_only_the_update_transform():
    sgd = optim_mod.optimizers_config("sgd")
    assert sgd == load_reproduction_config(optim_mod.OPTIMIZERS_CONFIG)
    for name, transform in optim_mod.OPTIMIZER_VARIANTS.items():
        cfg = optim_mod.optimizers_config(name, quick=True)
        assert cfg["training"]["steps"] == optim_mod.OPTIMIZERS_QUICK_STEPS
        assert cfg.get("update_transform") == transform
        assert _without(cfg, ("name",), ("training",)) == _without(
            {**sgd, **({"update_transform": transform} if transform else {})},
            ("name",),
            ("training",),
        )
    with pytest.raises(ValueError, match="unknown variant"):
        optim_mod.optimizers_config("adamw")


def test_fc_base_config_is_the_table1_fc_setting():
    base = load_reproduction_config("gurari/fc_digits")
    row = table1_mod.table1_config("fc_batch256")
    assert row["model"] == base["model"] and row["optimizer"] == base["optimizer"]
    assert row["training"] == {**base["training"], "batch_size": 256}


# --- every check can fail -----------------------------------------------------------------------
def _assert_each_check_can_fail(checks_fn, good: dict, mutations: dict) -> list:
    """``checks_fn(good)`` all REPRODUCED; each mutation (check index -> function changing the
    results) flips exactly that check to DIFFERS, with a reason; every check is covered."""
    base = checks_fn(good)
    assert [c.claim for c in base if not c.passed] == []
    assert set(mutations) == set(range(len(base))), "a check without a failing example"
    for i, mutate in mutations.items():
        bad = copy.deepcopy(good)
        mutate(bad)
        got = checks_fn(bad)
        assert [j for j, c in enumerate(got) if not c.passed] == [i], (i, base[i].claim)
        assert got[i].verdict is Verdict.DIFFERS and got[i].reason
        assert got[i].as_dict()["verdict"] == "differs"
    return base


def _good_table1() -> dict:
    rows = {
        row.key: {
            "paper": row.paper,
            "ours": row.paper - 0.05,
            "random_vector_control": 0.03,
            "final": {"train_accuracy": 0.97},
        }
        for row in table1_mod.TABLE1_ROWS
    }
    return {"plan": dict(table1_mod.TABLE1_QUICK), "quick": True, "rows": rows}


def test_table1_checks_can_fail():
    def set_row(key, value):
        return lambda r: r["rows"][key].update(ours=value)

    mutations = {
        i: set_row(row.key, row.paper - 0.15) for i, row in enumerate(table1_mod.TABLE1_ROWS)
    }
    n = len(table1_mod.TABLE1_ROWS)
    mutations[n] = lambda r: r["rows"]["fc_softplus"].update(random_vector_control=0.5)
    _assert_each_check_can_fail(table1_mod.table1_checks, _good_table1(), mutations)
    # a NaN measurement never passes
    r = _good_table1()
    r["rows"]["softmax"]["ours"] = float("nan")
    assert not table1_mod.table1_checks(r)[0].passed


def test_table1_differs_rows_give_our_reason():
    # our quick numbers (seed 0): softmax 0.353, eta 0.01 0.318 at train accuracy 0.894
    r = _good_table1()
    r["rows"]["softmax"].update(ours=0.353, random_vector_control=0.155)
    r["rows"]["fc_lr0.01"].update(ours=0.318, final={"train_accuracy": 0.894})
    checks = {c.where: c for c in table1_mod.table1_checks(r)}
    softmax, lr = checks["Table 1, row 1"], checks["Table 1, row 3"]
    assert softmax.verdict is Verdict.DIFFERS and "p = 640" in softmax.reason
    assert lr.verdict is Verdict.DIFFERS and "after 600 steps" in lr.reason
    assert "train accuracy 0.89" in lr.reason
    assert checks["Table 1, row 2"].passed and "our setup" in checks["Table 1, row 2"].reason


def _good_fig2() -> dict:
    dims = list(np.linspace(0.80, 0.95, 9)) + list(np.linspace(0.90, 0.70, 11))
    return {
        "k": 10,
        "weights": {
            0: {"top": 0.18, "next": 0.02, "all": 0.20},
            50: {"top": 0.93, "next": 0.01, "all": 0.94},
        },
        "f_top_first_step_above": 40,
        "subspace_overlap_t1": 100,
        "overlap_by_dimension_t1": dims,
        "mean_f_top_second_half": 0.95,
        "mean_overlap_second_half": 0.96,
        "random_top_overlap_mean": 0.87,
        "vertex_estimate_mean": 0.88,
        "random_full_overlap_mean": 0.02,
        "top_overlap_t1_to_last": 0.9,
        "next_overlap_t1_to_last": 0.4,
        "top_eigenvalue_first_last": [2.0, 8.0],
        "top_eigenvalue_max": 9.0,
    }


def test_fig2_checks_can_fail():
    def set_(key, value):
        return lambda r: r.update({key: value})

    mutations = {
        0: lambda r: r["weights"][0].update(all=0.6),
        1: lambda r: r["weights"][50].update(all=0.46),
        2: lambda r: r["weights"][50].update(top=0.45),
        3: lambda r: r["weights"][50].update(next=0.2),
        4: set_("mean_f_top_second_half", 0.6),
        5: set_("mean_overlap_second_half", 0.6),
        6: set_("random_top_overlap_mean", 0.6),
        7: set_("random_full_overlap_mean", 0.4),
        8: set_("top_overlap_t1_to_last", 0.65),
        9: set_("next_overlap_t1_to_last", 0.85),
        10: set_("overlap_by_dimension_t1", list(np.linspace(0.5, 0.9, 20))),
        11: set_("top_eigenvalue_max", 2.5),
    }
    _assert_each_check_can_fail(fig2_mod.fig2_checks, _good_fig2(), mutations)
    # eq. 4: agreeing with the paper's 0.87 is not enough, it must match our eigenvalues too
    r = _good_fig2()
    r["vertex_estimate_mean"] = 0.75
    assert not fig2_mod.fig2_checks(r)[6].passed


def test_fig2_step50_differs_because_our_gradient_enters_later():
    # our quick numbers: sum_{i<=20} c_i^2 = 0.464 at step 50, f_top first >= 0.9 at step 150
    r = _good_fig2()
    r["weights"][50] = {"top": 0.455, "next": 0.0093, "all": 0.464}
    r["f_top_first_step_above"] = 150
    checks = fig2_mod.fig2_checks(r)
    for c in checks[1:3]:
        assert c.verdict is Verdict.DIFFERS
        assert "enters the top subspace later" in c.reason and "step 150" in c.reason
    assert checks[3].passed  # the next 10 carry 0.009 < 0.05
    r["f_top_first_step_above"] = None
    assert "never reaches" in fig2_mod.fig2_checks(r)[1].reason


def _good_toy() -> dict:
    multi = {}
    for k in (5, 10):
        multi[f"k{k}_no_bias"] = {
            "outliers": k,
            "ratio_km1_over_k": 1.04,
            "ratio_k_over_k_plus_1": 3.5,
            "weight_on_kth": 0.99,
        }
        multi[f"k{k}_bias"] = {
            "outliers": k - 1,
            "ratio_km1_over_k": 2.7,
            "ratio_k_over_k_plus_1": 2.0,
            "weight_on_kth": 0.999,
        }
    return {
        "exact": {
            "steps": [0, 10, 3000],
            "third_over_first_max": 8e-15,
            "f_top_min": 1.0,
            "max_relative_difference_gd_vs_flow": 6.6e-3,
            "eigenvalue_times_eta_t_last": [1.0086, 1.0066],
        },
        "k2_sigma0.02": {
            "no_bias": {"third_over_second_last": 2.5e-3, "f_top_last": 1.0},
            "bias": {"weight_on_smaller_top_last": 1.0},
        },
        "multi_class": multi,
    }


def test_toy_checks_can_fail():
    mutations = {
        0: lambda r: r["exact"].update(third_over_first_max=1e-3),
        1: lambda r: r["exact"].update(f_top_min=0.99),
        2: lambda r: r["exact"].update(max_relative_difference_gd_vs_flow=0.1),
        3: lambda r: r["exact"].update(eigenvalue_times_eta_t_last=[0.5, 0.5]),
        4: lambda r: r["k2_sigma0.02"]["no_bias"].update(third_over_second_last=0.5),
        5: lambda r: r["k2_sigma0.02"]["no_bias"].update(f_top_last=0.5),
        6: lambda r: r["k2_sigma0.02"]["bias"].update(weight_on_smaller_top_last=0.3),
        7: lambda r: r["multi_class"]["k5_no_bias"].update(outliers=4),
        8: lambda r: r["multi_class"]["k5_bias"].update(outliers=5),
        9: lambda r: r["multi_class"]["k10_no_bias"].update(outliers=20),
        10: lambda r: r["multi_class"]["k10_bias"].update(weight_on_kth=0.2),
    }
    _assert_each_check_can_fail(toy_mod.toy_checks, _good_toy(), mutations)
    # the k-th eigenvalue of the biased model must stand above the bulk
    r = _good_toy()
    r["multi_class"]["k5_bias"]["ratio_k_over_k_plus_1"] = 1.1
    assert not toy_mod.toy_checks(r)[8].passed


def test_toy_verdicts_follow_the_simulated_measurement(monkeypatch):
    """The verdict is computed from what the simulation measured: halving the eigenvalues it
    reports (a wrong Hessian) flips GD-vs-exact-flow to DIFFERS; scale-free checks stay."""
    plan = {"d": 12, "lr": 0.1, "steps": [0, 10, 100, 400], "multi_k": ()}
    honest = toy_mod.toy_checks(toy_mod.compute_toy(plan, quick=True)[0])
    real = landscope.subspace.simulate_toy

    def halved(**kwargs):
        sim = real(**kwargs)
        return dataclasses.replace(sim, eigenvalues=0.5 * sim.eigenvalues)

    monkeypatch.setattr(landscope.subspace, "simulate_toy", halved)
    wrong = toy_mod.toy_checks(toy_mod.compute_toy(plan, quick=True)[0])
    assert honest[2].passed and wrong[2].verdict is Verdict.DIFFERS
    assert wrong[2].ours == pytest.approx(0.5, abs=0.02)  # |0.5 lambda - lambda| / lambda
    assert honest[0].passed and wrong[0].passed  # lambda_3 / lambda_1 does not see the scale


def _good_optimizers() -> dict:
    def v(initial, final):
        return {
            "initial_train_loss": initial,
            "final_train_loss": final,
            "min_train_loss": final,
            "error": None,
        }

    return {
        "variants": {
            "sgd": v(2.35, 0.12),
            "projected_sgd": v(2.35, 0.2),
            "projected_sgd_after_100": v(2.35, 0.2),
            "low_rank_newton": v(2.35, 0.5),
            "low_rank_newton_0.1": v(2.35, 1.0),
        }
    }


def test_optimizer_checks_can_fail():
    mutations = {
        0: lambda r: r["variants"]["projected_sgd"].update(final_train_loss=2.297),
        1: lambda r: r["variants"]["projected_sgd_after_100"].update(final_train_loss=0.377),
        2: lambda r: r["variants"]["low_rank_newton"].update(final_train_loss=2.406),
        3: lambda r: r["variants"]["low_rank_newton_0.1"].update(error="ValueError: nan loss"),
    }
    base = _assert_each_check_can_fail(optim_mod.optimizers_checks, _good_optimizers(), mutations)
    assert len(base) == 4
    r = _good_optimizers()
    mutations[0](r)
    reason = optim_mod.optimizers_checks(r)[0].reason
    assert "class-prior level log 10 = 2.30" in reason and "Song, Ahn & Yun" in reason


# --- tiny runs of each entry --------------------------------------------------------------------
def test_table1_tiny_plan_reports_run_numbers(tmp_path):
    plan = {"steps": 12, "window": 6, "every": 2}
    results = table1_mod.table1(
        tmp_path, quick=True, rows=["softmax", "regression"], plan=plan, progress=False
    )
    assert set(results["rows"]) == {"softmax", "regression"} and results["plan"] == plan
    for key, row in results["rows"].items():
        run = landscope.open_run(tmp_path / "runs" / key)
        assert run.steps("gradient_overlap.overlap").tolist() == [6, 8, 10, 12]
        ours = np.mean(run.read("gradient_overlap.overlap"))
        assert row["ours"] == pytest.approx(float(ours), abs=1e-12)
        assert -1 <= row["ours"] <= 1
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"]["softmax"]["paper"] == 0.96
    # one check per row run + the control; verdicts computed from the reported numbers
    checks = saved["checks"]
    assert [c["where"] for c in checks] == ["Table 1, row 1", "Table 1, row 9", "sec. 2.2"]
    for c, key in zip(checks, ("softmax", "regression"), strict=False):
        passed = abs(results["rows"][key]["ours"] - c["paper"]) <= table1_mod.TABLE1_TOLERANCE
        assert c["verdict"] == ("reproduced" if passed else "differs") and c[
            "ours"
        ] == pytest.approx(results["rows"][key]["ours"])
    text = (tmp_path / "report.md").read_text()
    assert "| MNIST | Softmax |" in text and "0.960" in text
    assert "| claim | where | paper | ours | verdict | criterion / reason |" in text
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
    with pytest.raises(ValueError, match="unknown Table 1 row"):
        table1_mod.table1(tmp_path, quick=True, rows=["nope"], progress=False)


def test_fig2_tiny_run_writes_figures_and_verdicts(tmp_path):
    results = get_reproduction("gurari-fig2").run(
        tmp_path, quick=True, progress=False, overrides={**TINY_NET, "training": {"steps": 60}}
    )
    assert results["steps"] == 60 and results["k"] == 10
    for name in (
        "fig1_fraction.png",
        "fig2_subspace_overlap.png",
        "fig3_overlap_by_dimension.png",
        "fig8_eigenvalues.png",
        "fig11_weights.png",
        "report.html",
        "subspace.npz",
    ):
        assert (tmp_path / name).exists(), name
    a = landscope.subspace.SubspaceAnalysis.load(tmp_path / "subspace")
    assert results["f_top"][0] == pytest.approx(float(a["fraction"][0]))
    assert len(results["overlap_by_dimension_t1"]) == 20
    assert 0 <= results["weights"][0]["top"] <= results["weights"][0]["all"] <= 1 + 1e-9
    # the first step with f_top >= 0.9, from the tracker's series
    hits = np.flatnonzero(a["fraction"] >= fig2_mod.F_TOP_MIN)
    assert results["f_top_first_step_above"] == (int(a.steps[hits[0]]) if len(hits) else None)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["checks"]) == 12
    assert saved["checks"][0]["ours"] == pytest.approx(results["weights"][0]["all"])
    assert {c["verdict"] for c in saved["checks"]} <= {"reproduced", "differs"}


def test_toy_reproduction_tiny_plan(tmp_path):
    tiny = {"d": 12, "lr": 0.1, "steps": [0, 10, 100, 400], "multi_k": (3,)}
    r = get_reproduction("gurari-toy").run(tmp_path, quick=True, progress=False, plan=tiny)
    ex = r["exact"]
    assert ex["f_top_min"] > 1 - 1e-10 and ex["third_over_first_max"] < 1e-10
    # lambda * eta t -> 1 at late times (exact flow); at eta t = 40 within ~10%
    assert all(0.85 < v < 1.15 for v in ex["eigenvalue_times_eta_t_last"])
    # At this tiny size and early time the k(k-1) = 6 nontrivial directions of footnote 14 have
    # not yet collapsed onto k = 3 dominant ones; the count is one of the two groupings.
    assert r["multi_class"]["k3_no_bias"]["outliers"] in (3, 6)
    verdicts = {c["claim"]: c["verdict"] for c in r["checks"]}
    assert verdicts["k = 2, sigma = 0: the Hessian has rank 2 (2d - 2 flat directions)"] == (
        "reproduced"
    )
    k3 = verdicts["k = 3 classes, no bias: k positive top eigenvalues"]
    assert k3 == ("reproduced" if r["multi_class"]["k3_no_bias"]["outliers"] == 3 else "differs")
    assert (tmp_path / "toy_model.png").exists() and "App. E" in (
        tmp_path / "report.md"
    ).read_text()


def test_optimizers_reproduction_tiny(tmp_path):
    r = get_reproduction("gurari-optimizers").run(
        tmp_path, quick=True, progress=False, overrides={**TINY_NET, "training": {"steps": 20}}
    )
    assert set(r["variants"]) == set(optim_mod.OPTIMIZER_VARIANTS)
    for name, v in r["variants"].items():
        assert v["error"] is None and v["final_step"] == 20
        run = landscope.open_run(tmp_path / "runs" / name)
        loss = np.asarray(run.read("train_loss"), dtype=float).ravel()
        assert (v["initial_train_loss"], v["final_train_loss"]) == (loss[0], loss[-1])
        transform = optim_mod.OPTIMIZER_VARIANTS[name]
        recorded = run.config.get("update_transform") or {}
        assert recorded.get("name") == (transform or {}).get("name")
    assert len(r["checks"]) == 4 and all(
        math.isfinite(v["seconds"]) for v in r["variants"].values()
    )
    assert (tmp_path / "optimizers.png").exists()


def test_report_tables_keep_a_pipe_inside_a_cell(tmp_path):
    from landscope.reproduce._report import Report

    report = Report("pipes", tmp_path)
    report.table(["criterion", "ours"], [["|ours - paper| <= 0.1", 2.0]])
    report.save()
    assert "| \\|ours - paper\\| <= 0.1 | 2.000 |" in (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    assert "<tr><td>|ours - paper| &lt;= 0.1</td><td>2.000</td></tr>" in page
