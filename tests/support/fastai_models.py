"""Tiny fastai AWD-LSTM text classifiers for the tests, built offline from a few sentences."""

from __future__ import annotations

import functools
from typing import Any

#: a small two-class corpus; words repeat so that most of them enter the vocabulary
SENTENCES: tuple[tuple[str, str], ...] = (
    ("a gorgeous, moving film with a great cast", "positive"),
    ("The acting is wonderful and the story is moving.", "positive"),
    ("I loved it!!!! Best film of the YEAR.", "positive"),
    ("a warm, funny and clever movie; don't miss it", "positive"),
    ("great great great fun, a moving story", "positive"),
    ("Wonderful music, a gorgeous cast and a clever plot.", "positive"),
    ("a dull, boring film with a terrible plot", "negative"),
    ("The acting is awful and the story is boring.", "negative"),
    ("I hated it. Worst movie of the YEAR!!!", "negative"),
    ("a tedious, stupid mess; don't waste your time", "negative"),
    ("boring boring boring, a dull story", "negative"),
    ("Terrible music, an awful cast and a stupid plot.", "negative"),
)


def build_toy_learner(
    seed: int = 0,
    emb_sz: int = 16,
    n_hid: int = 24,
    n_layers: int = 2,
    kind: str = "single",
    bidir: bool = False,
    bptt: int = 72,
) -> Any:
    """A randomly initialised AWD-LSTM classifier ``Learner`` (classes negative/positive).

    Tokenisation runs in-process (``n_workers=0``) and every word of :data:`SENTENCES` enters
    the vocabulary (``min_freq=1``). The model is untrained: its predictions are arbitrary
    but deterministic for a given ``seed``.

    ``kind`` is ``"single"`` (two classes, cross-entropy), ``"multi"`` (labels
    ``great``/``boring``/``funny`` by word, ``BCEWithLogitsLossFlat``) or ``"regression"``
    (a score per text, ``MSELossFlat``); ``bidir`` makes the LSTM layers bidirectional and
    ``bptt`` is the ``SentenceEncoder``'s chunk length.
    """
    import pandas as pd
    import torch

    from ig_widgets.models.quiet import known_warnings_hidden

    with known_warnings_hidden():
        from fastai.text.all import (
            AWD_LSTM,
            CategoryBlock,
            ColReader,
            DataBlock,
            MultiCategoryBlock,
            RandomSplitter,
            RegressionBlock,
            TextBlock,
            awd_lstm_clas_config,
            text_classifier_learner,
        )

    df = pd.DataFrame(list(SENTENCES), columns=["text", "label"])
    targets: dict[str, Any] = {
        "single": (CategoryBlock, ColReader("label")),
        "multi": (MultiCategoryBlock, _word_labels),
        "regression": (RegressionBlock, _score),
    }
    target_block, get_y = targets[kind]
    block = DataBlock(
        blocks=(TextBlock.from_df("text", min_freq=1, n_workers=0), target_block),
        get_x=ColReader("text"),
        get_y=get_y,
        splitter=RandomSplitter(0.25, seed=seed),
    )
    dls = block.dataloaders(df, bs=4, seq_len=72, num_workers=0)
    config = {
        **awd_lstm_clas_config,
        "emb_sz": emb_sz,
        "n_hid": n_hid,
        "n_layers": n_layers,
        "bidir": bidir,
    }
    torch.manual_seed(seed)
    return text_classifier_learner(dls, AWD_LSTM, config=config, pretrained=False, seq_len=bptt)


def _word_labels(row: Any) -> list:  # type: ignore[type-arg]  # fastai casts to it
    """Multi-label targets of a row: which of three word groups its text holds.

    The return annotation is a bare ``list``: fastai casts the result to it (a
    parameterised ``list[str]`` fails its ``isinstance``).
    """
    text = str(row["text"]).lower()
    groups = {"great": ("great", "wonderful", "gorgeous"), "boring": ("boring", "dull", "tedious")}
    labels = [name for name, words in groups.items() if any(w in text for w in words)]
    return [*labels, "funny"] if "fun" in text or not labels else labels


def _score(row: Any) -> float:
    """A regression target of a row: +1 positive, −1 negative."""
    return 1.0 if row["label"] == "positive" else -1.0


@functools.lru_cache(maxsize=1)
def toy_learner() -> Any:
    """A shared toy ``Learner`` (built once per test session; tests must leave it as found)."""
    return build_toy_learner()


def demo_learner() -> Any:
    """The bundled demo ``Learner`` (it ships in the package: failing to load it fails the test)."""
    import ig_widgets

    return ig_widgets.load_demo_model()


#: a long review written for the tests (about 300 fastai tokens): caps, repeats, markup
LONG_REVIEW = (
    "I went into this film expecting very little, and I came out of the cinema GRINNING. "
    "The first half hour is slow, I admit: the director takes his time with the village, "
    "the rain, the old bakery and the quiet family that runs it.<br /><br />Then the story "
    "turns. The eldest daughter, played by an actress I had never heard of, carries every "
    "scene she is in; her argument with her father in the kitchen is the best acting I have "
    "seen this year!!!! The music is gentle and never tells you what to feel... The camera "
    "stays close to the faces, and the editing is patient but never dull. Some jokes fall "
    "flat, and one subplot about a lost dog goes nowhere at all, which is a pity. Still, "
    "the ending is moving, moving, moving: I heard people crying around me, and I don't "
    "cry easily.<br /><br />It's not a perfect movie. The dialogue is sometimes stiff, a "
    "few characters are cartoons, and at two hours and ten minutes it is at least twenty "
    "minutes too long. But it is honest, warm and beautifully made, and it trusts its "
    "audience. If you liked quiet family dramas with a lot of heart, go and see it on the "
    "big screen. Sooooo much better than the trailer suggests. 8/10 from me, and I will "
    "watch it again with my parents next week. The popcorn was stale and the seats were "
    "hard, but that is hardly the film's fault."
)
