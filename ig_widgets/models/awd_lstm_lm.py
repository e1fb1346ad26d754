"""The bundled fastai AWD-LSTM language model, rebuilt offline from package data."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ig_widgets.models import awd_lstm
from ig_widgets.models.perplexity import PerplexityResult, perplexity

if TYPE_CHECKING:
    import torch

DATA_DIR = Path(__file__).resolve().parent / "data" / "awd_lstm_lm"
#: the AWD-LSTM runs any length in one go; this only bounds one scoring window
_WINDOW = 100_000


def read_config(data_dir: Path | None = None) -> dict[str, Any]:
    """The shipped ``config.json``: architecture, tokenizer and file names."""
    return awd_lstm.read_config(data_dir if data_dir is not None else DATA_DIR)


def read_metrics(data_dir: Path | None = None) -> dict[str, Any]:
    """The shipped ``metrics.json`` written by ``scripts/train_demo_lm.py``."""
    return awd_lstm.read_metrics(data_dir if data_dir is not None else DATA_DIR)


def load(data_dir: Path | str | None = None) -> Any:
    """Rebuild the demo language-model ``Learner`` from the weights and vocabulary in the package.

    A fastai AWD-LSTM language model (``SequentialRNN(AWD_LSTM, LinearDecoder)``, decoder tied
    to the embedding) with the bundled classifier's vocabulary and encoder sizes, trained from
    scratch by ``scripts/train_demo_lm.py``. The ``Learner`` is built here from plain data: an
    LM ``DataLoaders`` over a two-row in-memory table with the shipped vocabulary fixed,
    ``language_model_learner(..., pretrained=False)``, then the float16 state dict is read with
    ``torch.load(..., weights_only=True)`` and cast to float32. Nothing is unpickled, downloaded
    or written; fastai is imported here, not at module import.

    The AWD-LSTM keeps its hidden state between calls: call ``learn.model.reset()`` before
    every new text (``learn.predict`` does).

    Parameters
    ----------
    data_dir : path, optional
        Folder holding ``config.json``, ``vocab.json`` and the weights; default the package's
        ``ig_widgets/models/data/awd_lstm_lm``.

    Returns
    -------
    fastai.text.learner.LMLearner
        In eval mode, without a progress bar; ``learn.model(ids)[0]`` maps ids ``(batch, n)``
        to next-token logits ``(batch, n, vocab)``; ``learn.predict(text, n_words)`` continues
        a text; ``learn.dls.vocab`` is the token vocabulary.
    """
    import pandas as pd

    awd, col_reader, col_splitter, data_block, text_block, learner = awd_lstm.fastai_text(
        "AWD_LSTM", "ColReader", "ColSplitter", "DataBlock", "TextBlock", "language_model_learner"
    )
    folder, config, vocab = awd_lstm.shipped(data_dir, DATA_DIR)
    rows = pd.DataFrame({"text": ["xxunk", "xxunk"], "is_valid": [False, True]})
    block = data_block(
        blocks=text_block.from_df("text", is_lm=True, vocab=vocab, n_workers=0),
        get_x=col_reader("text"),
        splitter=col_splitter("is_valid"),
    )
    dls = block.dataloaders(rows, bs=1, seq_len=config["seq_len"], num_workers=0, path=folder)
    if list(dls.vocab) != vocab:
        raise RuntimeError("fastai changed the shipped vocabulary")
    learn = learner(
        dls,
        awd,
        config=dict(config["awd_lstm_config"]),
        pretrained=False,
        drop_mult=config["drop_mult"],
    )
    return awd_lstm.with_weights(learn, folder, config)


def encode(learn: Any, text: str) -> list[int]:
    """Ids of ``text`` for scoring: ``xxbos``, the fastai tokens, ``xxbos`` again as its end.

    Parameters
    ----------
    learn : fastai.text.learner.LMLearner
        The learner of :func:`load`.
    text : str
        Any text.

    Returns
    -------
    list[int]
        Shape ``(n_tokens + 2,)``; the language model was trained on a stream in which the
        next text's ``xxbos`` ends each text.
    """
    pipeline = learn.dls.train_ds.tls[0].tfms  # ColReader -> Tokenizer -> Numericalize
    ids = [int(i) for i in pipeline({"text": text})]
    return [*ids, ids[0]]


def logits(learn: Any, ids: torch.Tensor) -> torch.Tensor:
    """Next-token logits of ``ids`` from a fresh hidden state.

    Parameters
    ----------
    learn : fastai.text.learner.LMLearner
        The learner of :func:`load`, in eval mode.
    ids : torch.Tensor
        Shape ``(batch, n)``, dtype long.

    Returns
    -------
    torch.Tensor
        Shape ``(batch, n, vocab)``.
    """
    learn.model.reset()
    out: torch.Tensor = learn.model(ids)[0]
    return out


def perplexity_of(learn: Any, texts: Iterable[str]) -> PerplexityResult:
    """Perplexity of the language model on ``texts``, each from a fresh state, in one window.

    Parameters
    ----------
    learn : fastai.text.learner.LMLearner
        The learner of :func:`load`, in eval mode.
    texts : Iterable[str]
        Held-out texts.

    Returns
    -------
    PerplexityResult
        Per-token figures count fastai tokens (``xxmaj``, ``xxunk`` ... included).
    """
    return perplexity(
        lambda ids: logits(learn, ids), lambda t: encode(learn, t), texts, window=_WINDOW
    )
