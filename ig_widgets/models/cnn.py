"""The bundled CNN sentiment classifier (Kim 2014 style) and its offline loader."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ig_widgets.models.bundle import TorchTextClassifier
from ig_widgets.models.tokenizer import UNK, WordTokenizer

DATA_DIR = Path(__file__).resolve().parent / "data" / "cnn"
CLASSES: tuple[str, str] = ("negative", "positive")


@dataclass(frozen=True)
class CNNConfig:
    """Shape of a :class:`CNNClassifier`.

    Attributes
    ----------
    vocab_size : int
        Rows of the embedding table.
    emb_dim : int
        Embedding width.
    n_filters : int
        Convolution filters per kernel width.
    widths : tuple[int, ...]
        Kernel widths (in tokens) of the parallel convolutions.
    dropout : float
        Dropout before the output layer (training only).
    n_classes : int
        Output size.
    pad_id : int
        Id whose embedding row is fixed at zero.
    """

    vocab_size: int
    emb_dim: int = 128
    n_filters: int = 100
    widths: tuple[int, ...] = (3, 4, 5)
    dropout: float = 0.5
    n_classes: int = 2
    pad_id: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CNNConfig:
        """Rebuild a config from :meth:`to_dict`'s output (JSON lists become tuples)."""
        return cls(**{**data, "widths": tuple(data["widths"])})

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-friendly dict."""
        return asdict(self)


class CNNClassifier(nn.Module):
    """Embedding, parallel 1-d convolutions, ReLU, max over time, dropout, linear.

    Token ids reach the network only through :attr:`embedding`, so Integrated Gradients on
    the embedding output is complete. Inputs shorter than the widest kernel are padded with
    zero vectors after the embedding (the same vectors as ``<pad>``), so any length ≥ 1 works.

    Parameters
    ----------
    config : CNNConfig
        Sizes of the layers.
    """

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.emb_dim, padding_idx=config.pad_id)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.emb_dim, config.n_filters, w) for w in config.widths
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.n_filters * len(config.widths), config.n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits.

        Parameters
        ----------
        ids : torch.Tensor
            Token ids, shape ``(batch, n_tokens)``, ``n_tokens ≥ 1``, dtype long.

        Returns
        -------
        torch.Tensor
            Logits, shape ``(batch, n_classes)``.
        """
        return self.forward_embeds(self.embedding(ids))

    def forward_embeds(self, embeds: torch.Tensor) -> torch.Tensor:
        """Class logits from embeddings.

        Parameters
        ----------
        embeds : torch.Tensor
            Shape ``(batch, n_tokens, emb_dim)``.

        Returns
        -------
        torch.Tensor
            Logits, shape ``(batch, n_classes)``.
        """
        x = embeds.transpose(1, 2)  # (batch, emb_dim, n_tokens)
        short = max(self.config.widths) - x.shape[-1]
        if short > 0:
            x = F.pad(x, (0, short))
        pooled = [torch.relu(conv(x)).amax(dim=-1) for conv in self.convs]
        return self.head(self.dropout(torch.cat(pooled, dim=-1)))


def load_files(directory: Path) -> tuple[CNNClassifier, WordTokenizer, dict[str, Any]]:
    """Rebuild the model and tokenizer from ``config.json``, ``vocab.json`` and ``weights.pt``.

    Parameters
    ----------
    directory : Path
        Folder holding the three files.

    Returns
    -------
    tuple[CNNClassifier, WordTokenizer, dict]
        The model in eval mode (float32), its tokenizer and the raw ``config.json``.
    """
    meta = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    config = CNNConfig.from_dict(meta["model"])
    tokenizer = WordTokenizer.load(directory / "vocab.json")
    if len(tokenizer) != config.vocab_size:
        raise ValueError(f"vocab.json has {len(tokenizer)} tokens, config says {config.vocab_size}")
    state = torch.load(directory / "weights.pt", map_location="cpu", weights_only=True)
    module = CNNClassifier(config)
    module.load_state_dict({k: v.float() for k, v in state.items()})
    return module.eval(), tokenizer, meta


def load() -> TorchTextClassifier:
    """Load the bundled CNN sentiment model, offline, from files inside the package.

    Returns
    -------
    TorchTextClassifier
        The module in eval mode, its :class:`~ig_widgets.models.tokenizer.WordTokenizer`,
        ``embedding=module.embedding``, softmax-probability output, baseline token ``<unk>``.
    """
    module, tokenizer, meta = load_files(DATA_DIR)
    return TorchTextClassifier(
        module=module,
        tokenizer=tokenizer,
        embedding=module.embedding,
        classes=tuple(meta.get("classes", CLASSES)),
        name="CNN",
        output="probs",
        baseline_token=UNK,
    )
