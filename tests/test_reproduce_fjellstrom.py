"""The fjellstrom-* reproductions: the streamed distance pipeline against the direct one, tiny
runs of every entry (structure, computed verdicts, files), and checks fed false data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from landscope.reproduce import Verdict, get_reproduction
from landscope.reproduce._fjellstrom import (
    Plan,
    noise_sq_distances,
    paper_match,
    train_config,
    train_run,
    trajectory_steps,
)

TINY = Plan(
    stride=10, cutoffs=(1e-12, 1e-3), sweep_cutoffs=(1e-12,), scan_points=6, search_points=8
)
SHORT = {"training": {"epochs": 40}}  # 240 Iris steps instead of 2,400
NAMES = (
    "fjellstrom-covariance",
    "fjellstrom-rolling",
    "fjellstrom-table2",
    "fjellstrom-table3",
    "fjellstrom-table4",
    "fjellstrom-table5",
)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    cfg = train_config("iris", training={"epochs": 5})  # 30 steps
    return train_run(cfg, tmp_path_factory.mktemp("fj") / "iris", progress=False)


def test_catalog_entries_and_configs():
    for name in NAMES:
        entry = get_reproduction(name)
        assert entry.minutes[0] <= entry.minutes[1]
        for cfg in entry.configs:
            assert train_config(cfg.split("/")[1])["name"].startswith("fjellstrom")


def test_trajectory_steps_skip_the_initialization(short_run):
    assert trajectory_steps(short_run, 1).tolist() == list(range(1, 31))
    assert trajectory_steps(short_run, 10).tolist() == [10, 20, 30]


def test_streamed_distances_equal_the_direct_pipeline(short_run):
    """Blocks, one eigendecomposition per point sliced per cut-off, and rows assembled from
    padded factors == whitening_factors + mahalanobis_sq_distances on all points at once, and
    == numpy.linalg.pinv quadratic forms (eq. 2.5) on a few points.  The batched per-sample
    gradients round differently from the operator's (~1e-16); the pseudo-inverse amplifies that
    by up to lam_max / lam_min, i.e. 1e12 at cut-off 1e-12 (measured 2e-8) and 1e3 at 1e-3."""
    from _dense_references import dense_pinv_sq_distances
    from landscope.curvature import NoiseCovarianceOperator
    from landscope.diffusion import mahalanobis_sq_distances, whitening_factors

    steps = trajectory_steps(short_run, 3)  # 10 points
    got = noise_sq_distances(short_run, steps, cutoffs=(1e-12, 1e-3), block=4)
    train, _ = short_run.problems(dtype="float64")
    X = short_run.thetas(steps, like=train)
    Us = [NoiseCovarianceOperator(train, x, batch_size=20).factor for x in X]
    for c, rtol in ((1e-12, 1e-6), (1e-3, 1e-10)):
        wf = whitening_factors(Us, cutoff=c)
        ref = mahalanobis_sq_distances(X, wf)
        np.testing.assert_allclose(got["d2"][c], ref, rtol=rtol, atol=0)
        assert got["ranks"][c].tolist() == wf.ranks.tolist()
    Cs = [(U @ U.T).numpy() for U in Us[:4]]
    dense = dense_pinv_sq_distances(X[:4].numpy(), Cs, rcond=1e-3)
    np.testing.assert_allclose(got["d2"][1e-3][:4, :4], dense, rtol=1e-6, atol=1e-8)


def test_paper_match_finds_the_target_by_bisection():
    x = np.random.default_rng(0).uniform(size=(120, 2))
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    m = paper_match(d2, 10, 1e-4, 10.0, 5)
    assert m["found"] and m["d"] == 10
    lo, hi = m["eps_range"]
    assert lo <= m["eps"] <= hi
    assert not paper_match(d2, 500, 1e-4, 10.0, 5)["found"]  # d <= M = 120


def _verdicts(results: dict) -> set[str]:
    assert results["checks"], "no checks"
    return {c["verdict"] for c in results["checks"]}


def _saved(out) -> dict:
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    return json.loads((out / "results.json").read_text())


def test_table2_tiny(tmp_path):
    res = get_reproduction("fjellstrom-table2").run(
        tmp_path, quick=True, progress=False, plan=TINY, rows=["iris"], train_overrides=SHORT
    )
    r = res["rows"]["iris"]
    assert r["M"] == 24 and r["m"] == 515
    assert set(r["cutoffs"]) == {repr(1e-12), repr(1e-3)}
    a = r["cutoffs"][repr(1e-12)]
    assert set(a["rules"]) == {"lafon", "max_slope", "linear_region", "corner"}
    assert len(a["curve"]["eps"]) >= 200 and a["paper_eps"]["eps"] == 3.0
    assert _verdicts(res) <= {v.value for v in Verdict}
    assert (tmp_path / "fig5_6_iris.png").is_file()
    assert _saved(tmp_path)["checks"] == res["checks"]


@pytest.mark.parametrize(
    "name, row", [("fjellstrom-table3", "batch120"), ("fjellstrom-table4", "depth3")]
)
def test_sweep_entries_tiny(tmp_path, name, row):
    res = get_reproduction(name).run(
        tmp_path, quick=True, progress=False, rows=[row], points=20, train_overrides=SHORT
    )
    r = res["rows"][row]
    assert r["M"] == 20 and r["cutoffs"]
    if row == "batch120":  # eq. 2.6 vanishes at n = N: the Fisher form
        assert r["form"] == "fisher"
    _saved(tmp_path)


def test_table5_zeros_and_glorot_tiny(tmp_path):
    res = get_reproduction("fjellstrom-table5").run(
        tmp_path,
        quick=True,
        progress=False,
        rows=["zeros", "glorot_uniform"],
        points=20,
        train_overrides=SHORT,
    )
    claims = {c["claim"]: c for c in res["checks"]}
    key = "eps = 3 is unsuitable for the zeros initialization (outside its linear region)"
    assert key in claims
    _saved(tmp_path)


def test_rolling_tiny(tmp_path):
    res = get_reproduction("fjellstrom-rolling").run(
        tmp_path, quick=True, progress=False, plan=(2, 40, 40), train_overrides=SHORT
    )
    assert res["M"] == 120
    assert res["moving"]["starts"] == [0, 40, 80]
    assert res["fixed"]["eps"] == [res["moving"]["eps"][0]] * 3
    assert len(res["checks"]) == 4
    _saved(tmp_path)


def test_covariance_entry(tmp_path):
    res = get_reproduction("fjellstrom-covariance").run(tmp_path, quick=True, progress=False)
    iris = res["cases"]["iris"]
    assert (iris["m"], iris["N"], iris["step"]) == (515, 120, 20)
    lam = np.asarray(iris["eigenvalues"])
    assert np.all(np.diff(lam) <= 0) and iris["ranks"][repr(1e-3)] <= iris["ranks"][repr(1e-6)]
    assert len(res["checks"]) == 4
    _saved(tmp_path)


# --- checks fed false data ------------------------------------------------------------------------
def _sweep_result(d, auc, form="exact", loss=0.1):
    a = {
        "rules": {"corner": {"d": d, "auc": auc, "eps": 1.0, "eigenvalues": [1.0]}},
        "linear_region": [1.0, 10.0],
        "fixed": [{"d": d, "auc": auc, "eps": 3.0}],
    }
    return {
        "label": "x",
        "m": 515,
        "form": form,
        "final": {"train_loss": loss},
        "cutoffs": {"1e-12": a},
    }


def test_table3_checks_fail_on_a_batch_dependence():
    from landscope.reproduce._fjellstrom_table3 import table3_checks

    same = {f"batch{n}": _sweep_result(17, 0.91) for n in (10, 20, 30)}
    assert {c.verdict for c in table3_checks({"rows": same})} == {Verdict.REPRODUCED}
    spread = {f"batch{n}": _sweep_result(n, 0.91) for n in (10, 20, 30)}
    first = table3_checks({"rows": spread})[0]
    assert first.verdict is Verdict.DIFFERS


def test_table4_checks_fail_on_a_trend():
    from landscope.reproduce._fjellstrom_table4 import table4_checks

    trend = {f"depth{k}": _sweep_result(5 * k, 0.91, loss=0.05) for k in range(1, 11)}
    out = {c.claim: c.verdict for c in table4_checks({"rows": trend})}
    assert out["d fluctuates with depth without a clear trend"] is Verdict.DIFFERS
    assert (
        out["the 10-hidden-layer net trains worst (an ill-suited architecture)"] is Verdict.DIFFERS
    )


def test_table5_checks_fail_when_eps_3_fits():
    from landscope.reproduce._fjellstrom_table5 import table5_checks

    rows = {k: _sweep_result(20, 0.91) for k in ("glorot_uniform", "identity", "zeros")}
    out = {c.claim: c.verdict for c in table5_checks({"rows": rows})}
    key = "eps = 3 is unsuitable for the zeros initialization (outside its linear region)"
    assert out[key] is Verdict.DIFFERS  # our fake region [1, 10] contains 3
    assert out["d is robust to the (usual) initialization"] is Verdict.REPRODUCED


def test_rolling_checks_on_false_data():
    from landscope.reproduce._fjellstrom_rolling import rolling_checks

    flat = {
        "loss": {"train_loss": [1.0] * 10},
        "moving": {"eps": [1.0] * 8, "d": [10] * 8},
        "fixed": {"d": [10] * 8},
    }
    assert {c.verdict for c in rolling_checks(flat)} == {Verdict.DIFFERS, Verdict.REPRODUCED}
    out = [c.verdict for c in rolling_checks(flat)]
    assert out[:3] == [Verdict.DIFFERS] * 3 and out[3] is Verdict.REPRODUCED


def test_covariance_checks_on_false_data():
    from landscope.reproduce._fjellstrom_covariance import covariance_checks

    identity_like = {
        "cases": {
            "iris": {
                "title": "Iris",
                "figure": "Fig. 3",
                "mean_abs_offdiag_correlation": 0.01,
                "top10_trace_share": 10 / 515,
                "median_over_max": 1.0,
            }
        }
    }
    assert {c.verdict for c in covariance_checks(identity_like)} == {Verdict.DIFFERS}
