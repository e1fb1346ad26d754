"""The bundled fastai AWD-LSTM sentiment classifier, rebuilt offline from package data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ig_widgets.models.quiet import known_warnings_hidden
from ig_widgets.models.weights import load_state

DATA_DIR = Path(__file__).resolve().parent / "data" / "awd_lstm"


def read_config(data_dir: Path | None = None) -> dict[str, Any]:
    """The shipped ``config.json``: architecture, classes, tokenizer and file names."""
    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


def read_metrics(data_dir: Path | None = None) -> dict[str, Any]:
    """The shipped ``metrics.json`` written by ``scripts/train_demo_model.py``."""
    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))


def load(data_dir: Path | str | None = None) -> Any:
    """Rebuild the demo sentiment ``Learner`` from the weights and vocabulary in the package.

    The model is a fastai AWD-LSTM text classifier (classes ``negative``, ``positive``)
    trained from scratch by ``scripts/train_demo_model.py``.  The ``Learner`` is rebuilt
    here from plain data: ``DataLoaders`` over a two-row in-memory table with the shipped
    vocabulary fixed, ``text_classifier_learner(..., pretrained=False)``, then the float16
    state dict is read with ``torch.load(..., weights_only=True)`` and cast to float32.

    Security note: a pickled ``Learner`` (``learn.export()`` / ``load_learner``) is a
    pickle, and unpickling runs arbitrary code from the file.  This loader never unpickles
    anything: it reads JSON and a weights-only tensor file.

    The ``Learner`` has no ``ProgressCallback``, so ``predict`` prints nothing; add one back
    (``learn.add_cb(ProgressCallback())``) to see bars when fine-tuning.  Nothing is
    downloaded and nothing is written to disk.  fastai is imported here, not at
    module import, so ``import ig_widgets`` stays light.

    Parameters
    ----------
    data_dir : path, optional
        Folder holding ``config.json``, ``vocab.json`` and the weights; default the
        package's ``ig_widgets/models/data/awd_lstm``.

    Returns
    -------
    fastai.learner.Learner
        In eval mode; ``learn.predict(text)`` returns ``(label, index, probs)`` with probs of
        shape ``(2,)``; ``learn.dls.vocab`` is ``[token_vocab, classes]``.
    """
    import pandas as pd

    with known_warnings_hidden():  # fastai's import-time deprecations, exactly those
        from fastai.text.all import (
            AWD_LSTM,
            CategoryBlock,
            ColReader,
            ColSplitter,
            DataBlock,
            ProgressCallback,
            TextBlock,
            text_classifier_learner,
        )

    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    config = read_config(folder)
    vocab = json.loads((folder / config["vocab"]).read_text(encoding="utf-8"))
    classes = list(config["classes"])
    rows = pd.DataFrame({"text": classes, "label": classes, "is_valid": [False, True]})
    block = DataBlock(
        blocks=(
            TextBlock.from_df("text", vocab=vocab, seq_len=config["seq_len"], n_workers=0),
            CategoryBlock(vocab=classes),
        ),
        get_x=ColReader("text"),
        get_y=ColReader("label"),
        splitter=ColSplitter("is_valid"),
    )
    dls = block.dataloaders(rows, bs=2, num_workers=0, path=folder)
    if list(dls.vocab[1]) != classes:
        raise RuntimeError(f"class order changed: {list(dls.vocab[1])} != {classes}")
    learn = text_classifier_learner(
        dls,
        AWD_LSTM,
        config=dict(config["awd_lstm_config"]),
        pretrained=False,
        drop_mult=config["drop_mult"],
        seq_len=config["seq_len"],
        max_len=config["max_len"],
        lin_ftrs=config["lin_ftrs"],
    )
    load_state(learn.model, folder / config["weights"])
    learn.remove_cb(ProgressCallback)  # no progress bar printed by every predict()
    return learn
