"""Hugging Face ``pipeline`` objects of text or token classification, taken as the model."""

from __future__ import annotations

from typing import Any

from ig_widgets.engine.adapters.hf import HFAdapter, is_hf_model
from ig_widgets.engine.heads import output_from_pipeline

#: the pipelines whose model and tokenizer the Hugging Face adapter explains
_TASKS = frozenset({"text-classification", "sentiment-analysis", "token-classification", "ner"})


class PipelineAdapter(HFAdapter):
    """A ``transformers.pipeline("text-classification")`` (or ``"token-classification"``).

    The pipeline's model and tokenizer are explained as :class:`HFAdapter` would; ``F``
    follows the pipeline's own scores: its ``function_to_apply`` (``none`` → ``identity``),
    else its default: none for ``problem_type="regression"``, a sigmoid per label for a
    multi-label model or a single output, else the softmax.
    ``output=`` and the other keyword arguments of :class:`HFAdapter` override.
    """

    family = "pipeline"

    def __init__(self, pipe: Any, **kwargs: Any) -> None:
        if not self.accepts(pipe):
            raise TypeError(
                "PipelineAdapter needs a transformers pipeline of text or token "
                f"classification, not {type(pipe).__name__}"
            )
        kwargs.setdefault("tokenizer", pipe.tokenizer)
        kwargs.setdefault("output", _pipeline_output(pipe))
        super().__init__(pipe.model, **kwargs)

    @classmethod
    def accepts(cls, model: Any, **kwargs: Any) -> bool:
        """A pipeline object of one of the classification tasks, around a PyTorch model."""
        task = getattr(model, "task", None)
        return task in _TASKS and is_hf_model(getattr(model, "model", None))


def _pipeline_output(pipe: Any) -> str:
    """The head the pipeline's scores use (:func:`heads.output_from_pipeline`)."""
    params = getattr(pipe, "_postprocess_params", None) or {}
    return output_from_pipeline(pipe.task, pipe.model.config, params.get("function_to_apply"))
