"""The benchmarks' held-out sets share no text with the sets their figures were tuned on."""

from __future__ import annotations

import pytest
from support.paths import SHARED_DATA

if not (SHARED_DATA / "imdb_sample.csv").exists():
    pytest.skip(
        f"the benchmarks' texts are in {SHARED_DATA} (set IGW_SHARED_DATA)", allow_module_level=True
    )

from benchmarks import texts as T


def test_the_held_out_reviews_are_training_reviews_none_of_them_tuned_on() -> None:
    held = T.imdb_held_out(200)
    tuned = set(T.reviews()[: T.TUNED_ROWS])
    assert len(held) == len(set(held)) == 200
    assert not tuned & set(held)
    assert not set(T.imdb_valid()) & set(held)  # P7's own set
    assert set(held) <= set(T.imdb_reviews(valid=False))
    assert T.imdb_held_out(100) == held[:100]  # a fixed draw: a smaller set is its start


def test_the_held_out_sentences_are_none_of_the_first_ones() -> None:
    first = set(T.sentences()[:5000])  # P10 takes 1,500, the memory figure 500
    held = T.held_out_sentences(1500)
    assert len(held) == 1500 and not first & set(held)


def test_the_single_text_figures_are_timed_on_a_tuned_row() -> None:
    """run.py's 250- and 400-token texts come from the rows the held-out draw leaves out.

    Counted in words: the AWD-LSTM's tokenizer makes at least one token per word, so its
    first review of ``n`` tokens comes no later in the file than the first of ``n`` words.
    """

    class Words:  # a whitespace tokenizer stands in for the model's: only lengths matter
        def tokenize(self, text: str) -> object:
            words = text.split()
            spans, at = [], 0
            for w in words:
                start = text.index(w, at)
                spans.append((start, start + len(w)))
                at = start + len(w)
            return type("Tok", (), {"spans": spans, "__len__": lambda self: len(spans)})()

    rows = T.reviews()
    for n in (250, 400):
        text = T.long_review(Words(), rows, n)
        source = next(i for i, row in enumerate(rows) if row.startswith(text))
        assert source < T.TUNED_ROWS
        assert len(T.long_reviews(Words(), T.imdb_held_out(200), n, 3)) == 3
