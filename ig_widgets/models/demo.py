"""The demo models that ship inside the package: names, kinds and loaders."""

from __future__ import annotations

import importlib
from typing import Any, Literal

Kind = Literal["classifier", "lm", "all"]

# name -> (kind, "module:function"); classifiers first, the first is load_demo_model()'s default
_DEMO_MODELS: dict[str, tuple[str, str]] = {
    "awd_lstm": ("classifier", "ig_widgets.models.awd_lstm:load"),
    "cnn": ("classifier", "ig_widgets.models.cnn:load"),
    "gpt_lm": ("lm", "ig_widgets.models.gpt_lm:load"),
    "awd_lstm_lm": ("lm", "ig_widgets.models.awd_lstm_lm:load"),
}


def demo_models(kind: Kind = "all") -> list[str]:
    """Names of the bundled demo models of one kind.

    Parameters
    ----------
    kind : {"classifier", "lm", "all"}
        ``"all"`` (default): the classifiers, the default model (the fastai AWD-LSTM) first,
        then the language models; ``"classifier"``: the sentiment classifiers only (what code
        that explains every listed model as a classifier should ask for); ``"lm"``: the causal
        language models (``gpt_lm``, ``awd_lstm_lm``).

    Returns
    -------
    list[str]
        Names accepted by :func:`load_demo_model`.
    """
    if kind not in ("classifier", "lm", "all"):
        raise ValueError(f"kind must be 'classifier', 'lm' or 'all', got {kind!r}")
    return [name for name, (k, _) in _DEMO_MODELS.items() if kind in (k, "all")]


def load_demo_model(name: str | None = None) -> Any:
    """Load a bundled demo model, offline, from weights shipped in the package.

    Parameters
    ----------
    name : str, optional
        One of ``demo_models("all")``; default the fastai AWD-LSTM sentiment ``Learner``.

    Returns
    -------
    Any
        ``"awd_lstm"``: a fastai ``Learner`` (classes ``negative``/``positive``); ``"cnn"``: a
        :class:`ig_widgets.models.bundle.TorchTextClassifier`; ``"gpt_lm"``: a
        :class:`ig_widgets.models.gpt_lm.CausalLM` ``(GPT2LMHeadModel,
        PreTrainedTokenizerFast)`` (needs ``pip install "ig-widgets[transformers]"``);
        ``"awd_lstm_lm"``: a fastai language-model ``LMLearner``.
    """
    key = name or next(iter(_DEMO_MODELS))
    if key not in _DEMO_MODELS:
        raise ValueError(f"Unknown demo model {key!r}; available: {demo_models('all')}")
    module, func = _DEMO_MODELS[key][1].split(":")
    return getattr(importlib.import_module(module), func)()
