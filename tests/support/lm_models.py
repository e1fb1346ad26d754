"""Tiny causal language models for the tests, built offline from configs (nothing downloaded).

One byte-level BPE tokenizer trained on a few sentences serves every Hugging Face model
(``<s>`` first, as Llama's tokenizer does; characters it never saw map to ``<unk>``).
Reusable from any test module: ``from support.lm_models import tiny_lm, lm_tokenizer, ...``.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from support.toy_models import import_transformers

#: what the tokenizer is trained on (and the fastai LM's corpus): no 'z', 'q' or 'x' in it
LM_SENTENCES: tuple[str, ...] = (
    "the film was great fun and the acting was good",
    "the movie was bad and the plot was boring",
    "a great film with a good story",
    "a bad movie with an awful plot",
    "Review: the film was great fun. Sentiment: positive",
    "Review: the movie was bad. Sentiment: negative",
    "I loved the story and the music",
    "I hated the acting and the ending",
    "this is a very good film, not a bad one",
    "this is a very bad film, not a good one",
)
#: the tokenizer's special tokens, in id order
LM_SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")

#: the Hugging Face families the tests cover
HF_FAMILIES = ("gpt2", "llama", "qwen2", "mistral")


@functools.lru_cache(maxsize=1)
def lm_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast`` (byte-level BPE, about 300 tokens) trained here.

    ``<s>`` is put before every text; pad ``<pad>``, eos ``</s>``, unknown ``<unk>``. No
    limit on the length (the models set theirs).
    """
    transformers = import_transformers()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=list(LM_SPECIALS))
    tok.train_from_iterator(LM_SENTENCES, trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )


def tiny_lm(family: str = "gpt2", seed: int = 0, max_positions: int = 4096) -> tuple[Any, Any]:
    """A randomly initialised 2-layer causal LM of ``family`` and :func:`lm_tokenizer`.

    Hidden size 16, 2 heads; ``initializer_range=0.2`` so that the next-token distribution is
    far from uniform. Returned in eval mode.
    """
    transformers = import_transformers()
    tokenizer = lm_tokenizer()
    ids = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "initializer_range": 0.2,
    }
    if family == "gpt2":
        config: Any = transformers.GPT2Config(
            n_embd=16, n_layer=2, n_head=2, n_positions=max_positions, **ids
        )
        make: Any = transformers.GPT2LMHeadModel
    else:
        configs = {
            "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
            "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
            "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
        }
        config_cls, make = configs[family]
        config = config_cls(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=max_positions,
            tie_word_embeddings=False,
            **ids,
        )
    torch.manual_seed(seed)
    return make(config).eval(), tokenizer


def build_toy_lm_learner(seed: int = 0, emb_sz: int = 16, n_hid: int = 24) -> Any:
    """A randomly initialised fastai AWD-LSTM ``language_model_learner`` on :data:`LM_SENTENCES`.

    Tokenisation runs in-process; every word enters the vocabulary (``min_freq=1``). The
    embedding (tied to the decoder) is scaled up so that predictions are far from uniform.
    """
    import pandas as pd

    from ig_widgets.models.quiet import known_warnings_hidden

    with known_warnings_hidden():
        from fastai.text.all import (
            AWD_LSTM,
            ColReader,
            DataBlock,
            RandomSplitter,
            TextBlock,
            awd_lstm_lm_config,
            language_model_learner,
        )

    df = pd.DataFrame({"text": list(LM_SENTENCES)})
    block = DataBlock(
        blocks=TextBlock.from_df("text", is_lm=True, min_freq=1, n_workers=0),
        get_x=ColReader("text"),
        splitter=RandomSplitter(0.2, seed=seed),
    )
    dls = block.dataloaders(df, bs=2, seq_len=8, num_workers=0)
    config = {**awd_lstm_lm_config, "emb_sz": emb_sz, "n_hid": n_hid, "n_layers": 2}
    torch.manual_seed(seed)
    learn = language_model_learner(dls, AWD_LSTM, config=config, pretrained=False)
    with torch.no_grad():  # the shared embedding/decoder weight, scaled: a peaked next token
        learn.model[0].encoder.weight.mul_(8.0)
    return learn


@functools.lru_cache(maxsize=1)
def toy_lm_learner() -> Any:
    """A shared toy LM ``Learner`` (built once per session; tests must leave it as found)."""
    return build_toy_lm_learner()
