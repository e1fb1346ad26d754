"""Tokens the model does not know: flagged per token, per word, and for a whole text."""

from __future__ import annotations

import numpy as np
import pytest
from support.toy_models import (
    WordTokenizer,
    import_transformers,
    make_module,
    tiny_bert,
    toy_bundle,
)

import ig_widgets as igw
from ig_widgets.engine.adapters import adapter_for
from ig_widgets.engine.adapters.base import Tokenized
from ig_widgets.engine.words import fold_words


def flagged(tok: Tokenized) -> list[str]:
    return [t for t, o in zip(tok.tokens, tok.oov, strict=True) if o]


def test_torch_tokenizer_with_an_unk_id() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=1))
    exp = explainer.explain("the zorgblat film <unk>", n_steps=4)
    # "<" "unk" ">" are three unknown pieces, not the unknown token typed literally
    assert exp.oov == (False, False, True, False, True, True, True)
    assert [w.text for w in exp.words if w.oov] == ["zorgblat", "<unk>"]
    assert not exp.all_unknown
    assert explainer.explain("zorg blat", n_steps=4).all_unknown


def test_a_tokenizer_without_unk_id_marks_nothing() -> None:
    tokenizer = WordTokenizer()
    module = make_module("mean", len(tokenizer.vocab))
    explainer = igw.Explainer(
        module, tokenizer=tokenizer.ids, vocab=tokenizer.vocab, embedding="emb",
        classes=("negative", "positive"),
    )  # fmt: skip
    assert explainer.adapter.unk_id is None
    exp = explainer.explain("the zorgblat film", n_steps=4)
    assert not any(exp.oov) and not exp.all_unknown


def test_bundled_cnn() -> None:
    adapter = adapter_for(igw.load_demo_model("cnn"))
    tok = adapter.tokenize("A qzxvy film")
    assert adapter.unk_id == 1 and flagged(tok) == ["<unk>"]
    assert tok.tokens[tok.oov.index(True)] == "<unk>" and tok.spans[2] == (2, 7)


def test_fastai(learn: object) -> None:
    adapter = adapter_for(learn)
    tok = adapter.tokenize("Qzxvy film <unk> xxunk")
    assert adapter.unk_id == adapter.vocab.index("xxunk")
    # xxmaj qzxvy: the word is unknown; typed <unk> / xxunk are the unknown token itself
    assert tok.tokens[:3] == ("xxbos", "xxmaj", "xxunk")
    assert tok.oov == (False, False, True) + (False,) * (len(tok) - 3)
    words = fold_words(tok)
    assert [w.oov for w in words] == [False, True, False, False, False]


def test_hugging_face() -> None:
    pytest.importorskip("tokenizers")
    try:
        import_transformers()
    except ImportError:  # pragma: no cover - the optional extra is missing
        pytest.skip("transformers (optional extra) is not installed")
    model, tokenizer = tiny_bert()
    adapter = adapter_for(model, tokenizer=tokenizer)
    tok = adapter.tokenize("the zap film [UNK]")
    assert tok.tokens == ("[CLS]", "the", "[UNK]", "film", "[UNK]", "[SEP]")
    assert tok.oov == (False, False, True, False, False, False)


def test_explanation_flags_default_and_length() -> None:
    exp = igw.Explainer(toy_bundle("mean")).explain("the film", n_steps=4)
    fields = {name: getattr(exp, name) for name in exp.__dataclass_fields__}
    fields["oov"] = ()
    assert igw.Explanation(**fields).oov == (False, False, False)
    fields["oov"] = (True,)
    with pytest.raises(ValueError, match="one flag per token"):
        igw.Explanation(**fields)
    special_only = igw.Explanation(**{**fields, "oov": (False,) * 3, "special": (True,) * 3})
    assert not special_only.all_unknown
    np.testing.assert_array_equal(exp.scores, igw.Explanation(**{**fields, "oov": ()}).scores)
