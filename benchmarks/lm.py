"""G1-G3: a GPT-2-small-size causal LM, the engine against Captum, 64 prompt tokens.

Run: ``.venv/bin/python -m benchmarks.lm [--pairs 3] [--steps 16] [--threads 2] [--json f]``
from the project root. The model is ``GPT2LMHeadModel(GPT2Config())`` (124 M parameters,
vocabulary 50,257, random weights: timing only); the prompt's ids come from the tests'
offline tokenizer. Each figure is the median ratio engine / Captum over back-to-back pairs in
alternating order (:func:`benchmarks.run.paired_ratio`), the same points and baseline:

- G1, next token: the top 5 candidates in one ``explain`` against five Captum
  ``LayerIntegratedGradients`` runs (one per candidate); expected about (1 + 2k)/(3k) = 0.73.
- G2, a continuation of 4 tokens: one ``explain`` (teacher forcing, one forward for every
  token) against Captum's ``LLMGradientAttribution`` (one IG run per token over a longer input).
- G3, the prompted classifier with two label words: one ``explain`` (a two-class softmax costs
  one backward) against two Captum runs, one per class.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

import torch

from benchmarks.run import ROOT, paired_ratio, timed

N_TOKENS, TOP_K = 64, 5
CONTINUATION = " good and the story"
PROMPT = "Review: {text}. Sentiment:"
LABELS = {"positive": " positive", "negative": " negative"}


def setup() -> tuple[Any, Any, str]:
    """The model, the tests' offline tokenizer and a prompt of exactly 64 tokens."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.lm_models import LM_SENTENCES, lm_tokenizer
    from support.toy_models import import_transformers

    transformers = import_transformers()
    tok = lm_tokenizer()
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=0
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    words = " ".join(LM_SENTENCES * 4).split()
    text = ""
    for word in words:
        longer = f"{text} {word}".strip()
        if len(tok(longer)["input_ids"]) > N_TOKENS:
            break
        text = longer
    return model, tok, text


def captum_runs(
    model: Any, fwd: Any, ids: torch.Tensor, base: torch.Tensor, n: int, steps: int
) -> Any:
    """``n`` Captum LayerIG runs on the embedding layer, one per output of ``fwd``."""
    from captum.attr import LayerIntegratedGradients

    lig = LayerIntegratedGradients(fwd, model.get_input_embeddings())

    def run() -> None:
        for c in range(n):
            lig.attribute(ids[None], baselines=base[None], target=c, n_steps=steps)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

    import ig_widgets as igw

    model, tok, text = setup()
    from support.toy_models import baseline_ids  # on the path once setup() has run

    steps = args.steps
    lm = igw.Explainer(model, tokenizer=tok, top_k=TOP_K)
    tokd = lm.tokenize(text)
    ids = torch.tensor(tokd.ids)
    base = baseline_ids(tokd, tok.pad_token_id)

    def engine(explainer: igw.Explainer, **kw: Any) -> Any:
        def run() -> None:
            explainer.clear_cache()
            explainer.explain(text, n_steps=steps, **kw)

        return run

    cands = list(lm.explain(text, n_steps=2).target_ids)

    def next_token(batch: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=batch, logits_to_keep=1).logits[:, -1]
        return torch.softmax(logits, -1)[:, cands]

    figures: dict[str, float] = {}
    g1 = paired_ratio(
        timed(engine(lm)), timed(captum_runs(model, next_token, ids, base, TOP_K, steps)),
        args.pairs,
    )  # fmt: skip
    llm = LLMGradientAttribution(LayerIntegratedGradients(model, model.get_input_embeddings()), tok)
    inp = TextTokenInput(text, tok, baselines="<pad>", skip_tokens=["<s>"])
    lp = igw.Explainer(model, tokenizer=tok, output="logprob")
    g2 = paired_ratio(
        timed(engine(lp, target=CONTINUATION)),
        timed(lambda: llm.attribute(inp, target=CONTINUATION, n_steps=steps)),
        args.pairs,
    )
    clf = igw.Explainer(model, tokenizer=tok, prompt=PROMPT, labels=LABELS)
    ctok = clf.tokenize(text)
    cids = torch.tensor(ctok.ids)
    cbase = baseline_ids(ctok, tok.pad_token_id)
    label_ids = [tok(w, add_special_tokens=False)["input_ids"][0] for w in LABELS.values()]

    def labels(batch: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=batch, logits_to_keep=1).logits[:, -1]
        return torch.softmax(logits[:, label_ids], -1)

    g3 = paired_ratio(
        timed(engine(clf)), timed(captum_runs(model, labels, cids, cbase, 2, steps)), args.pairs
    )
    for name, pair in (("g1", g1), ("g2", g2), ("g3", g3)):
        figures.update({f"{name}_engine_s": pair["a_s"], f"{name}_captum_s": pair["b_s"]})
        figures.update({f"{name}_ratio": pair["ratio"], f"{name}_low": pair["low"]})
        figures[f"{name}_high"] = pair["high"]
    print(f"command: python -m benchmarks.lm {' '.join(sys.argv[1:])}".strip())
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s); GPT2Config() 124 M parameters, {len(tokd)} "
        f"prompt tokens ({len(ctok)} with the template), {steps} points, {args.pairs} pairs"
    )
    rows = (
        ("G1 next token, top 5 vs 5 Captum runs", g1),
        ("G2 continuation of 4 vs LLMGradientAttribution", g2),
        ("G3 prompted classifier, 2 labels vs 2 Captum runs", g3),
    )
    for title, pair in rows:
        print(
            f"{title}: engine {pair['a_s']:.2f} s, Captum {pair['b_s']:.2f} s, ratio "
            f"{pair['ratio']:.2f} (pairs {pair['low']:.2f}-{pair['high']:.2f})"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
