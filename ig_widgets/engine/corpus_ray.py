"""The Ray backend's former module name, kept for imports: see :mod:`.corpus.ray_backend`."""

from __future__ import annotations

from ig_widgets.engine.corpus.ray_backend import BATCH_SIZE, ExplainBatch, demo_factory, run_ray

__all__ = ["BATCH_SIZE", "ExplainBatch", "demo_factory", "run_ray"]
