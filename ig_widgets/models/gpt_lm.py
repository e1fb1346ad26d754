"""The bundled GPT-2-style causal language model, rebuilt offline from package data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ig_widgets.models.weights import load_state

if TYPE_CHECKING:
    import torch
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

DATA_DIR = Path(__file__).resolve().parent / "data" / "gpt_lm"
INSTALL_HINT = 'pip install "ig-widgets[transformers]"'


class CausalLM(NamedTuple):
    """A causal language model and its tokenizer; unpacks as ``model, tokenizer = ...``.

    Attributes
    ----------
    model : transformers.GPT2LMHeadModel
        In eval mode, float32; ``model(input_ids).logits`` has shape ``(batch, n, vocab)``.
    tokenizer : transformers.PreTrainedTokenizerFast
        ``tokenizer(text)["input_ids"]`` starts with the begin token ``<|endoftext|>``
        (offset ``(0, 0)``); the same token is ``eos``; ``<pad>`` pads.
    """

    model: GPT2LMHeadModel
    tokenizer: PreTrainedTokenizerFast


def _transformers() -> Any:
    """The ``transformers`` module, or an ImportError that says how to install it."""
    try:
        import transformers
    except ImportError as error:
        raise ImportError(
            f"The demo GPT language model needs Hugging Face transformers: {INSTALL_HINT}"
        ) from error
    return transformers


def read_metrics(data_dir: Path | None = None) -> dict[str, Any]:
    """The shipped ``metrics.json`` written by ``scripts/train_demo_lm.py``."""
    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))


def load(data_dir: Path | str | None = None) -> CausalLM:
    """Rebuild the demo GPT-2-style language model and its tokenizer from the package.

    ``config.json`` is a Hugging Face ``GPT2Config``; ``tokenizer.json`` a ``tokenizers``
    byte-level BPE (lower-casing, begin token added by its post-processor);
    ``weights.pt`` a plain float16 state dict read with ``torch.load(..., weights_only=True)``
    and cast to float32. Nothing is downloaded or unpickled; no file is written.

    Parameters
    ----------
    data_dir : path, optional
        Folder holding ``config.json``, ``tokenizer.json`` and ``weights.pt``; default the
        package's ``ig_widgets/models/data/gpt_lm``.

    Returns
    -------
    CausalLM
        ``(model, tokenizer)``: a ``GPT2LMHeadModel`` in eval mode and a
        ``PreTrainedTokenizerFast`` whose ``bos``/``eos``/``pad`` ids match the config.

    Raises
    ------
    ImportError
        If transformers is not installed (the message names ``pip install
        "ig-widgets[transformers]"``).
    """
    transformers = _transformers()
    from tokenizers import Tokenizer

    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    config = transformers.GPT2Config.from_json_file(str(folder / "config.json"))
    backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
    if backend.get_vocab_size() != config.vocab_size:
        raise ValueError(
            f"tokenizer.json has {backend.get_vocab_size()} tokens, config {config.vocab_size}"
        )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=backend.id_to_token(config.bos_token_id),
        eos_token=backend.id_to_token(config.eos_token_id),
        pad_token=backend.id_to_token(config.pad_token_id),
        model_max_length=config.n_positions,
    )
    model = load_state(transformers.GPT2LMHeadModel(config), folder / "weights.pt")
    return CausalLM(model, tokenizer)


def encode(tokenizer: PreTrainedTokenizerFast, text: str) -> list[int]:
    """Ids of ``text`` for scoring: the begin token, the text's tokens, the end token.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerFast
        The tokenizer of :func:`load`.
    text : str
        Any text.

    Returns
    -------
    list[int]
        Shape ``(n_tokens + 2,)``.
    """
    return [*tokenizer(text)["input_ids"], tokenizer.eos_token_id]


def logits_fn(model: GPT2LMHeadModel) -> Any:
    """``ids (1, m) -> logits (1, m, vocab)`` of ``model``, for :mod:`~.perplexity`."""

    def logits(ids: torch.Tensor) -> torch.Tensor:
        return model(input_ids=ids).logits

    return logits
