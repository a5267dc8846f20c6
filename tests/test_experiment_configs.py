"""Every run config we ship validates and builds its problem: the user-facing examples under
``experiments/`` and the reproductions' configs under ``landscope/reproduce/configs/`` (the single
source of each reproduction's runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

import landscope.reproduce
from landscope.config import build_dataset, load_config
from landscope.reproduce import catalog, config_path

ROOT = Path(__file__).parent.parent
SHIPPED = Path(landscope.reproduce.__file__).parent / "configs"
CONFIGS = sorted((ROOT / "experiments").rglob("*.yaml")) + sorted(SHIPPED.rglob("*.yaml"))


def _id(path: Path) -> str:
    base = SHIPPED if SHIPPED in path.parents else ROOT
    return str(path.relative_to(base))


def test_there_are_configs():
    assert len([p for p in CONFIGS if SHIPPED in p.parents]) >= 13  # the Gur-Ari configs
    assert (ROOT / "experiments" / "quickstart.yaml") in CONFIGS


def test_every_config_a_catalog_entry_names_is_shipped():
    for entry in catalog():
        for name in entry.configs:
            assert config_path(name) in CONFIGS, (entry.name, name)


@pytest.mark.parametrize("path", CONFIGS, ids=_id)
def test_config_validates_and_builds(path):
    cfg = load_config(path)
    ds = build_dataset(cfg)
    assert len(ds.train) >= cfg.training.batch_size
    from landscope.models import build_model

    model = build_model(
        cfg.model.name, input_shape=ds.input_shape, output_dim=ds.output_dim, **cfg.model.options
    )
    assert sum(p.numel() for p in model.parameters()) > 0
