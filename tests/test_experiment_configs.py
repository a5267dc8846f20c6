"""Every run config shipped under experiments/ validates and builds its problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from landscope.config import build_dataset, load_config

CONFIGS = sorted((Path(__file__).parent.parent / "experiments").rglob("*.yaml"))


def test_there_are_configs():
    assert len(CONFIGS) >= 6


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_config_validates_and_builds(path):
    cfg = load_config(path)
    ds = build_dataset(cfg)
    assert len(ds.train) >= cfg.training.batch_size
    from landscope.models import build_model

    model = build_model(
        cfg.model.name, input_shape=ds.input_shape, output_dim=ds.output_dim, **cfg.model.options
    )
    assert sum(p.numel() for p in model.parameters()) > 0
