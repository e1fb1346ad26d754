"""The work of a run in this process: each text explained (in lockstep where it pays), its row."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ig_widgets.engine.adapters import Tokenized
from ig_widgets.engine.baselines import NEUTRAL, Baseline, neutral_for
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

    ``options`` go to :meth:`Explainer.explain`; a ``baseline`` of ``[neutral]`` is resolved
    at this text's length first (:func:`text_baseline`). Errors of the text (too long,
    unknown to the tokenizer, the model failing) are recorded in the row;
    :class:`Cancelled` and ``KeyboardInterrupt`` pass through.
    """
    if row.error is not None:
        return row.head()
    assert row.text is not None
    try:
        tok = explainer.tokenize(row.text)
        if settings.max_tokens is not None and len(tok) > settings.max_tokens:
            return row.failed(f"too long: {len(tok)} tokens (max_tokens={settings.max_tokens})")
        baseline, note = text_baseline(explainer, tok, options.pop("baseline", None))
        exp = explainer.explain(
            row.text, **settings.explain_options(), baseline=baseline, **options
        )
    except Cancelled:
        raise
    except Exception as exc:  # a bad row never stops the run
        return row_result(row, exc)
    return row_result(row, exp, note)


def text_baseline(
    explainer: Explainer, tok: Tokenized, baseline: Baseline | str | None
) -> tuple[Baseline | str | None, str]:
    """The baseline one text is explained with, and what its row adds to the description.

    ``[neutral]`` is resolved at the text's number of ordinary tokens by
    :func:`~ig_widgets.engine.baselines.neutral_for`, the call an Explorer on the text makes:
    the token (the row's ``baseline`` names it), or the model's default with the fallback's
    reason (a regression head, no neutral frequent token at that length) as the note. Any
    other baseline is the run's, with no note.
    """
    if not (isinstance(baseline, str) and baseline == NEUTRAL):
        return baseline, ""
    token, why = neutral_for(explainer.adapter, sum(not s for s in tok.special))
    return token, "" if token is not None else why


def row_result(row: InputRow, answer: Explanation | Exception, note: str = "") -> dict[str, Any]:
    """The row of an input and its explanation, or of the error its text raised.

    ``note`` (a :func:`text_baseline` fallback's reason) goes in brackets after the
    explanation's baseline description.
    """
    if isinstance(answer, Exception):
        message = str(answer) if isinstance(answer, (ValueError, TypeError)) else repr(answer)
        return row.failed(" ".join(message.split()) or type(answer).__name__)
    if note:
        answer = replace(answer, baseline=f"{answer.baseline} ({note})")
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
    try:
        window: list[InputRow] = []
        for row in rows:
            if is_cancelled(cancel):
                return False
            window.append(row)
            if len(window) == size:
                explain_window(explainer, window, settings, done, baseline=baseline, cancel=cancel)
                window = []
        if window:
            explain_window(explainer, window, settings, done, baseline=baseline, cancel=cancel)
    except (Cancelled, KeyboardInterrupt):
        return False
    return True


def explain_window(
    explainer: Explainer,
    window: list[InputRow],
    settings: RunSettings,
    done: Callable[[dict[str, Any]], None],
    *,
    baseline: Baseline | str | None = None,
    cancel: CancelHook | None = None,
) -> None:
    """Explain ``window``'s rows, handing each row's result to ``done`` once it is finished.

    Where the adapter allows padding, texts are sorted by length, and groups of up to
    :data:`GROUP` within its ``padding_room()`` that share a baseline (``[neutral]`` is
    resolved per text: texts whose lengths chose different tokens run apart) run in
    lockstep (:func:`~ig_widgets.engine.lockstep.explain_together`); otherwise one by one.
    """
    room = explainer.adapter.padding_room()
    if not room:
        for row in window:
            done(explain_row(explainer, row, settings, baseline=baseline, cancel=cancel))
        return
    # the rows of each baseline (by value for a token or None, else the run's one object)
    kinds: dict[Hashable, tuple[Baseline | str | None, list[tuple[int, InputRow, str]]]] = {}
    for row in window:
        tok = None
        if row.error is None:
            assert row.text is not None
            with contextlib.suppress(Exception):  # explain_row records the text's error
                tok = explainer.tokenize(row.text)
        if tok is None or (settings.max_tokens is not None and len(tok) > settings.max_tokens):
            done(explain_row(explainer, row, settings, baseline=baseline, cancel=cancel))
            continue
        try:
            used, note = text_baseline(explainer, tok, baseline)
        except Cancelled:
            raise
        except Exception as exc:  # the neutral ranking failed on this text: its row says so
            done(row_result(row, exc))
            continue
        key = used if used is None or isinstance(used, str) else id(used)
        kinds.setdefault(key, (used, []))[1].append((len(tok), row, note))
    for used, sized in kinds.values():
        sized.sort(key=lambda item: item[0])
        start = 0
        while start < len(sized):
            end = start + 1
            while (
                end < len(sized) and end - start < GROUP and sized[end][0] - sized[start][0] <= room
            ):
                end += 1
            group = sized[start:end]
            texts = [row.text for _, row, _ in group if row.text is not None]
            assert len(texts) == len(group)  # rows without a text carry their error
            answers = explain_together(
                explainer, texts, **settings.explain_options(), baseline=used, cancel=cancel
            )
            for (_, row, note), answer in zip(group, answers, strict=True):
                done(row_result(row, answer, note))
            start = end
