"""The work of a run in this process: each text explained (in lockstep where it pays), its row."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ig_widgets.engine.baselines import Baseline
from ig_widgets.engine.core import CancelHook, Cancelled, is_cancelled
from ig_widgets.engine.corpus.inputs import InputRow, RunSettings
from ig_widgets.engine.corpus.store import ResultWriter
from ig_widgets.engine.fileformat import encode
from ig_widgets.engine.lockstep import explain_together

if TYPE_CHECKING:
    from ig_widgets.engine.explainer import Explainer
    from ig_widgets.engine.explanation import Explanation

Progress = bool | Callable[[int, int], None]
#: rows read ahead and sorted by token length, so that nearly equal lengths run together
WINDOW = 32
#: texts explained in lockstep (:func:`ig_widgets.engine.lockstep.explain_together`)
GROUP = 8


def explain_row(explainer: Explainer, row: InputRow, settings: RunSettings, **options: Any) -> dict:
    """The row of one checked input: its Explanation's columns, or its error.

    Errors of the text (too long, unknown to the tokenizer, the model failing) are recorded
    in the row; :class:`Cancelled` and ``KeyboardInterrupt`` pass through.
    """
    if row.error is not None:
        return row.head()
    assert row.text is not None
    try:
        if settings.max_tokens is not None:
            n = len(explainer.tokenize(row.text))
            if n > settings.max_tokens:
                return row.failed(f"too long: {n} tokens (max_tokens={settings.max_tokens})")
        exp = explainer.explain(row.text, **settings.explain_options(), **options)
    except Cancelled:
        raise
    except Exception as exc:  # a bad row never stops the run
        return row_result(row, exc)
    return row_result(row, exp)


def row_result(row: InputRow, answer: Explanation | Exception) -> dict[str, Any]:
    """The row of an input and its explanation, or of the error its text raised."""
    if isinstance(answer, Exception):
        message = str(answer) if isinstance(answer, (ValueError, TypeError)) else repr(answer)
        return row.failed(" ".join(message.split()) or type(answer).__name__)
    return {**row.head(), **encode(answer)}


class ProgressBar:
    """A tqdm bar (the notebook flavour in Jupyter) and/or a ``progress(done, total)`` hook."""

    def __init__(self, progress: Progress, total: int | None, initial: int = 0) -> None:
        from tqdm.auto import tqdm

        self.hook = progress if callable(progress) else None
        self.total = total
        self.done = 0
        self.failed = 0
        self.bar = tqdm(
            total=total,
            unit="text",
            desc=f"explain_many ({initial} done before)" if initial else "explain_many",
            disable=progress is not True,
            dynamic_ncols=True,
        )

    def update(self, n: int, failed: int = 0) -> None:
        """``n`` more texts finished, ``failed`` of them with an error."""
        self.done += n
        self.failed += failed
        if failed:
            self.bar.set_postfix(errors=self.failed, refresh=False)
        self.bar.update(n)
        if self.hook is not None:
            self.hook(self.done, self.total if self.total is not None else -1)

    def close(self) -> None:
        """Close the bar (it stays on screen)."""
        self.bar.close()


def run_local(
    explainer: Explainer,
    rows: Iterator[InputRow],
    settings: RunSettings,
    baseline: Baseline | str | None,
    writer: ResultWriter,
    bar: ProgressBar,
    cancel: CancelHook | None,
) -> bool:
    """Explain the rows in this process; False when cancelled or interrupted.

    When the model allows padding at the end (``padding_room()``: the AWD-LSTM), rows are
    read :data:`WINDOW` at a time, sorted by length, and explained up to :data:`GROUP` at a
    time in lockstep, so that the adaptive rule's rounds of one or two points share a batch.
    A batch of one text's points costs far more per point than of five (65 and 33 µs per
    point and token), while batches of 8 or more gain nothing, so only small rounds are
    shared. Other models' texts are explained one by one.
    """

    def done(result: dict[str, Any]) -> None:
        writer.add(result)
        bar.update(1, failed=result["error"] is not None)

    size = WINDOW if explainer.adapter.padding_room() else 1
    options = {"baseline": baseline, "cancel": cancel}
    try:
        window: list[InputRow] = []
        for row in rows:
            if is_cancelled(cancel):
                return False
            window.append(row)
            if len(window) == size:
                explain_window(explainer, window, settings, done, **options)
                window = []
        if window:
            explain_window(explainer, window, settings, done, **options)
    except (Cancelled, KeyboardInterrupt):
        return False
    return True


def explain_window(
    explainer: Explainer,
    window: list[InputRow],
    settings: RunSettings,
    done: Callable[[dict[str, Any]], None],
    **options: Any,
) -> None:
    """Explain ``window``'s rows, handing each row's result to ``done`` once it is finished.

    Where the adapter allows padding, texts are sorted by length, and groups of up to
    :data:`GROUP` within its ``padding_room()`` run in lockstep
    (:func:`~ig_widgets.engine.lockstep.explain_together`); otherwise one by one.
    """
    room = explainer.adapter.padding_room()
    if not room:
        for row in window:
            done(explain_row(explainer, row, settings, **options))
        return
    sized: list[tuple[int, InputRow]] = []
    for row in window:
        n = None
        if row.error is None:
            assert row.text is not None
            with contextlib.suppress(Exception):  # explain_row records the text's error
                n = len(explainer.tokenize(row.text))
        if n is None or (settings.max_tokens is not None and n > settings.max_tokens):
            done(explain_row(explainer, row, settings, **options))
        else:
            sized.append((n, row))
    sized.sort(key=lambda pair: pair[0])
    start = 0
    while start < len(sized):
        end = start + 1
        while end < len(sized) and end - start < GROUP and sized[end][0] - sized[start][0] <= room:
            end += 1
        group = [row for _, row in sized[start:end]]
        texts = [row.text for row in group if row.text is not None]
        assert len(texts) == len(group)  # rows without a text carry their error
        answers = explain_together(explainer, texts, **settings.explain_options(), **options)
        for row, answer in zip(group, answers, strict=True):
            done(row_result(row, answer))
        start = end
