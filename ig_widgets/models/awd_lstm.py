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


def fastai_text(*names: str) -> list[Any]:
    """``fastai.text.all``'s ``names``, imported on first use with its known deprecations hidden.

    fastai is imported here, not at module import, so ``import ig_widgets`` stays light.
    """
    with known_warnings_hidden():  # fastai's import-time deprecations, exactly those
        import fastai.text.all as text_all
    return [getattr(text_all, name) for name in names]


def shipped(data_dir: Path | str | None, default: Path) -> tuple[Path, dict[str, Any], list[str]]:
    """The folder of a bundled AWD-LSTM (``default`` when None), its config and vocabulary."""
    folder = Path(data_dir) if data_dir is not None else default
    config = read_config(folder)
    vocab = json.loads((folder / config["vocab"]).read_text(encoding="utf-8"))
    return folder, config, vocab


def with_weights(learn: Any, folder: Path, config: dict[str, Any]) -> Any:
    """``learn`` with the shipped float16 weights (as float32) and no progress bar."""
    (progress,) = fastai_text("ProgressCallback")
    load_state(learn.model, folder / config["weights"])
    learn.remove_cb(progress)  # no progress bar printed by every predict()
    return learn


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
    downloaded and nothing is written to disk.  fastai is imported on first use
    (:func:`fastai_text`), so ``import ig_widgets`` stays light.

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

    awd, category_block, col_reader, col_splitter, data_block, text_block, learner = fastai_text(
        "AWD_LSTM", "CategoryBlock", "ColReader", "ColSplitter", "DataBlock", "TextBlock",
        "text_classifier_learner",
    )  # fmt: skip
    folder, config, vocab = shipped(data_dir, DATA_DIR)
    classes = list(config["classes"])
    rows = pd.DataFrame({"text": classes, "label": classes, "is_valid": [False, True]})
    block = data_block(
        blocks=(
            text_block.from_df("text", vocab=vocab, seq_len=config["seq_len"], n_workers=0),
            category_block(vocab=classes),
        ),
        get_x=col_reader("text"),
        get_y=col_reader("label"),
        splitter=col_splitter("is_valid"),
    )
    dls = block.dataloaders(rows, bs=2, num_workers=0, path=folder)
    if list(dls.vocab[1]) != classes:
        raise RuntimeError(f"class order changed: {list(dls.vocab[1])} != {classes}")
    learn = learner(
        dls,
        awd,
        config=dict(config["awd_lstm_config"]),
        pretrained=False,
        drop_mult=config["drop_mult"],
        seq_len=config["seq_len"],
        max_len=config["max_len"],
        lin_ftrs=config["lin_ftrs"],
    )
    return with_weights(learn, folder, config)
