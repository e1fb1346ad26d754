"""The keyword arguments a plain torch module needs (tokenizer, embedding, classes), checked."""

from __future__ import annotations

from typing import Any

from torch import nn

from ig_widgets.engine.adapters._tokenizers import CallableTokenizer, vocab_list
from ig_widgets.engine.adapters.base import Output
from ig_widgets.models.bundle import TextTokenizer


def embedding_names(model: nn.Module) -> list[str]:
    return [
        name for name, m in model.named_modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))
    ]


def require(model: nn.Module, tokenizer: Any, embedding: Any, classes: Any) -> None:
    """``TypeError`` naming every keyword argument a plain module is missing."""
    what = {
        "tokenizer": (tokenizer, "an object with .vocab and .encode(text) -> (ids, spans), or "
                      "a callable text -> list of ids together with vocab="),
        "embedding": (embedding, "the embedding module or its dotted attribute name; embedding "
                      f"layers in this model: {embedding_names(model) or 'none found'}"),
        "classes": (classes, "the class names, in the order of the model's outputs"),
    }  # fmt: skip
    missing = [f"{k}= ({hint})" for k, (value, hint) in what.items() if value is None]
    if missing:
        raise TypeError(
            "A plain torch.nn.Module needs tokenizer=, embedding= and classes=. Missing: "
            + "; ".join(missing)
        )


def resolve_embedding(model: nn.Module, embedding: Any) -> nn.Module:
    hint = f" Embedding layers in this model: {embedding_names(model) or 'none found'}."
    if isinstance(embedding, str):
        try:
            return model.get_submodule(embedding)
        except AttributeError:
            raise ValueError(f"The model has no submodule {embedding!r}.{hint}") from None
    if not isinstance(embedding, nn.Module):
        raise TypeError(
            f"embedding= must be an nn.Module or a name, not {type(embedding).__name__}"
        )
    if not any(m is embedding for m in model.modules()):
        raise ValueError(f"embedding= is not a submodule of the model.{hint}")
    return embedding


def resolve_tokenizer(tokenizer: Any, vocab: Any) -> TextTokenizer:
    if isinstance(tokenizer, CallableTokenizer):
        return tokenizer
    if callable(tokenizer) and hasattr(tokenizer, "get_vocab"):  # a Hugging Face tokenizer
        return CallableTokenizer(tokenizer, vocab_list(vocab or tokenizer.get_vocab()))
    if isinstance(tokenizer, TextTokenizer):
        if vocab is not None:
            raise TypeError("vocab= is only for a callable tokenizer; this one has .vocab")
        return tokenizer
    if callable(tokenizer):
        if vocab is None:
            raise TypeError("A callable tokenizer needs vocab= (token strings, index = id).")
        return CallableTokenizer(tokenizer, vocab_list(vocab))
    raise TypeError(f"tokenizer= must be a TextTokenizer or a callable, not {type(tokenizer)}")


def check_classes(classes: Any, output: Output) -> tuple[str, ...]:
    """Distinct class names; one class only for heads other than the softmax."""
    if isinstance(classes, str):
        raise TypeError("classes= must be a sequence of class names, not one string.")
    names = tuple(str(c) for c in classes)
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"classes= must be distinct names, got {names}")
    if len(names) == 1 and output == "probs":
        raise ValueError(
            "A softmax over one class is constant (every attribution would be 0): pass "
            "output='identity' for a regression output, 'sigmoid' for one binary label, or "
            "'logits'."
        )
    return names
