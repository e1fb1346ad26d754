"""The Ray backend of ``explain_many``: Ray Data actors, each with its own Explainer."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ig_widgets.engine.baselines import Baseline
from ig_widgets.engine.core import CancelHook, is_cancelled
from ig_widgets.engine.corpus.inputs import InputRow, RunSettings, weights_fingerprint
from ig_widgets.engine.corpus.ray_start import start_ray, stop_ray
from ig_widgets.engine.corpus.store import ResultWriter, release_memory
from ig_widgets.engine.corpus.work import ProgressBar, explain_window
from ig_widgets.models.demo import demo_models, load_demo_model

if TYPE_CHECKING:
    from ig_widgets.engine.explainer import Explainer

#: texts per Ray Data batch: the unit of work, retry and progress (2 actors on 2 cores over
#: rt-polarity sentences: 37 texts/s in batches of 8, 44 in batches of 32)
BATCH_SIZE = 32


class ExplainBatch:
    """The callable class Ray Data runs on each actor: one Explainer, built once per actor.

    Parameters
    ----------
    model_factory : callable
        A picklable zero-argument callable that returns the model (or a ready
        :class:`ig_widgets.Explainer`).
    settings : RunSettings
        The run's settings; ``settings.fingerprint`` must be the model's (the factory must
        rebuild the very model the driver's explainer holds).
    baseline : Baseline, str or None
        The run's (:func:`~ig_widgets.engine.corpus.inputs.corpus_baseline`): ``[neutral]``
        is resolved per text in the actor (:func:`~ig_widgets.engine.corpus.work.explain_window`).
    schema : pyarrow.Schema
        The result rows' schema.
    threads : int
        ``torch.set_num_threads`` in the actor (the actors share the machine's cores).
    explainer_options : dict
        ``memory_budget`` and ``cache_size`` of the driver's explainer.
    explainer_class : type
        The driver's explainer's class (:class:`ig_widgets.Explainer`), which builds the
        actor's explainer around the model.
    """

    def __init__(
        self,
        model_factory: Callable[[], Any],
        settings: RunSettings,
        baseline: Baseline | str | None,
        schema: pa.Schema,
        threads: int,
        explainer_options: dict[str, Any],
        explainer_class: type[Explainer],
    ) -> None:
        import torch

        torch.set_num_threads(threads)
        model = model_factory()
        self.explainer = (
            model
            if isinstance(model, explainer_class)
            else explainer_class(model, **explainer_options)
        )
        found = weights_fingerprint(self.explainer.adapter.network)
        if found != settings.fingerprint:
            raise ValueError(
                "model_factory built a model whose weights differ from the explainer's "
                f"(fingerprint {found[:12]} ≠ {settings.fingerprint[:12]}): it must return "
                "the same model"
            )
        self.settings, self.baseline, self.schema = settings, baseline, schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Explain each row of ``batch`` (columns of :class:`InputRow`); the result rows."""
        rows: list[dict[str, Any]] = []
        window = [InputRow(**item) for item in batch.to_pylist()]
        explain_window(self.explainer, window, self.settings, rows.append, baseline=self.baseline)
        release_memory()
        return pa.Table.from_pylist(rows, schema=self.schema)


def demo_factory(explainer: Explainer) -> Callable[[], Any] | None:
    """A factory of the bundled demo model ``explainer`` holds, or None when it holds another.

    The demo models are compared by :func:`weights_fingerprint` (each is loaded once).
    """
    mine = weights_fingerprint(explainer.adapter.network)
    for name in demo_models("classifier"):
        if _demo_fingerprint(name, type(explainer)) == mine:
            return functools.partial(load_demo_model, name)
    return None


#: the fingerprint of each demo model, by name (each is loaded once)
_DEMO_FINGERPRINTS: dict[str, str] = {}


def _demo_fingerprint(name: str, explainer_class: type[Explainer]) -> str:
    if name not in _DEMO_FINGERPRINTS:
        built = explainer_class(load_demo_model(name))
        _DEMO_FINGERPRINTS[name] = weights_fingerprint(built.adapter.network)
    return _DEMO_FINGERPRINTS[name]


def run_ray(
    explainer: Explainer,
    rows: Iterator[InputRow],
    settings: RunSettings,
    baseline: Baseline | str | None,
    writer: ResultWriter,
    bar: ProgressBar,
    cancel: CancelHook | None,
    *,
    model_factory: Callable[[], Any] | None = None,
    address: str | None = None,
    num_actors: int = 2,
    actor_cpus: float = 0.5,
    threads_per_actor: int = 1,
    batch_size: int = BATCH_SIZE,
    num_cpus: int | None = None,
) -> bool:
    """Explain ``rows`` on Ray Data; the driver writes each batch as it arrives.

    Rows that fail the input checks are written by the driver at once; the others go to
    ``map_batches`` over ``num_actors`` actors of :class:`ExplainBatch`. Ray restarts a
    killed actor and retries its batch (Ray Data's defaults for actor pools); the writer
    keeps the first row of each id, so a retried batch neither loses nor duplicates a text.
    Returns False when cancelled or interrupted.

    Parameters
    ----------
    model_factory : callable, optional
        A picklable zero-argument callable returning the model (or an Explainer); optional
        for the bundled demo models.
    address : str, optional
        A Ray cluster to join (``"auto"``, ``"ray://host:10001"``); None starts a local Ray
        on this machine (stopped at the end) unless one is running in this process.
    num_actors : int
        How many actors explain texts.
    actor_cpus : float
        CPUs each actor reserves. On a small machine actors that reserve a whole CPU each
        starve Ray Data's other tasks and the pipeline hangs; 0.5 finished on 2 cores.
    threads_per_actor : int
        torch threads in each actor.
    batch_size : int
        Texts per batch (the unit of retry and of progress).
    num_cpus : int, optional
        CPUs of a local Ray (default: all of this machine's).
    """
    import ray
    import ray.data  # before _quiet: importing it configures (resets) its loggers

    if model_factory is None:
        model_factory = demo_factory(explainer)
        if model_factory is None:
            raise ValueError(
                "backend='ray' needs model_factory=: a picklable zero-argument callable that "
                "returns the model (only the bundled demo models are found without one)"
            )
    if not callable(model_factory):
        raise TypeError(f"model_factory must be callable, got {type(model_factory).__name__}")
    for name, value in (("num_actors", num_actors), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    pending: list[dict[str, Any]] = []
    for row in rows:
        if row.error is not None:
            writer.add(row.head())
            bar.update(1, failed=1)
        else:
            pending.append(row.head())
    if not pending:
        return True
    started = not ray.is_initialized()
    if started:
        start_ray(address=address, num_cpus=num_cpus)
    try:
        with _quiet("ray.data"):  # its plan, "progress bars disabled" and "finished" lines
            return _stream(
                explainer,
                pending,
                settings,
                baseline,
                writer,
                bar,
                cancel,
                model_factory,
                num_actors,
                actor_cpus,
                threads_per_actor,
                batch_size,
            )
    finally:
        if started:
            stop_ray()


@contextlib.contextmanager
def _quiet(name: str, level: int = logging.ERROR) -> Iterator[None]:
    """Raise the level of logger ``name`` for the block, then restore it."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(max(level, before))
    try:
        yield
    finally:
        logger.setLevel(before)


def _stream(
    explainer: Explainer,
    pending: list[dict[str, Any]],
    settings: RunSettings,
    baseline: Baseline | str | None,
    writer: ResultWriter,
    bar: ProgressBar,
    cancel: CancelHook | None,
    model_factory: Callable[[], Any],
    num_actors: int,
    actor_cpus: float,
    threads: int,
    batch_size: int,
) -> bool:
    import ray.data
    import ray.exceptions

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver's tqdm bar shows the progress
    context.print_on_execution_start = False
    # one block per batch, and at least one per actor, so that every actor gets work
    blocks = max(-(-len(pending) // batch_size), min(num_actors, len(pending)))
    source = ray.data.from_items(pending, override_num_blocks=blocks)
    results = source.map_batches(
        ExplainBatch,
        fn_constructor_kwargs={
            "model_factory": model_factory,
            "settings": settings,
            "baseline": baseline,
            "schema": writer.schema,
            "threads": threads,
            "explainer_options": {
                "memory_budget": explainer.memory_budget,
                "cache_size": explainer.cache_size,
            },
            "explainer_class": type(explainer),
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=actor_cpus,
    )
    batches = results.iter_batches(batch_size=None, batch_format="pyarrow")
    try:
        for table in batches:
            assert isinstance(table, pa.Table)  # batch_format="pyarrow"
            new = writer.add_table(table)  # Arrow all the way: no row becomes a dict here
            errors = new.column("error")
            bar.update(new.num_rows, failed=new.num_rows - errors.null_count)
            if is_cancelled(cancel):
                return False
    except KeyboardInterrupt:
        return False
    except ray.exceptions.RayError as exc:  # e.g. an actor whose model_factory failed
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise RuntimeError(f"the Ray job failed: {lines[-1] if lines else exc!r}") from exc
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    return True
