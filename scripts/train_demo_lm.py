"""Train the two bundled demo language models from scratch, offline, and record their perplexity.

Both models learn from the classifiers' training rows only (``train_demo_model.py``'s seeded
split of ``../shared/data``, or ``$IGW_SHARED_DATA``): the rt-polarity train sentences and the
imdb_sample rows with ``is_valid == False`` (each review clipped to its first and last 75 words,
``<br />`` as a space). The rt-polarity valid split is scored after every epoch; the
rt-polarity test split (1,066 sentences the classifiers never saw) and the 200 imdb_sample
``is_valid`` reviews are scored once, at the end, on the shipped float16 weights as the package
loads them. Every text is scored on its own: start marker, tokens, end marker.

- ``gpt``: a GPT-2-style ``GPT2LMHeadModel`` (4 layers, width 192, context 128) with a
  byte-level BPE tokenizer trained here with ``tokenizers``; writes ``config.json`` (a Hugging
  Face ``GPT2Config``), ``tokenizer.json``, ``weights.pt`` and ``metrics.json`` into
  ``ig_widgets/models/data/gpt_lm/``.
- ``awd``: a fastai AWD-LSTM language model with the bundled classifier's vocabulary and layer
  sizes (so the classifier could be fine-tuned from its encoder); writes ``config.json``,
  ``vocab.json``, ``weights.pt`` and ``metrics.json`` into
  ``ig_widgets/models/data/awd_lstm_lm/``.

Run: ``nice -n 5 .venv/bin/python scripts/train_demo_lm.py [gpt|awd|both]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
sys.path[:0] = [str(REPO), str(SCRIPTS)]

from train_demo_model import clip_words, fp16_state_dict, load_splits, shared_data_dir  # noqa: E402

from ig_widgets.models import awd_lstm, awd_lstm_lm, gpt_lm  # noqa: E402
from ig_widgets.models.perplexity import PerplexityResult, perplexity, plain_text  # noqa: E402

DATA = REPO / "ig_widgets" / "models" / "data"
EOT, PAD = "<|endoftext|>", "<pad>"
#: how many rt-polarity test sentences the tests re-score (the first ones of the split)
TEST_SLICE = 200


def training_texts(splits: dict[str, Any], imdb_words: int) -> list[str]:
    """The classifiers' training texts, cleaned: rt-polarity train, then clipped imdb train."""
    rt = splits["rt_train"]["text"].tolist()
    imdb = [clip_words(plain_text(t), imdb_words) for t in splits["imdb_train"]["text"]]
    return [plain_text(t) for t in rt + imdb]


def held_out(splits: dict[str, Any]) -> dict[str, list[str]]:
    """The texts scored at the end: the rt-polarity test split, its first slice, imdb valid."""
    rt_test = splits["rt_test"]["text"].tolist()
    return {
        "rt_polarity_test": rt_test,
        f"rt_polarity_test_first_{TEST_SLICE}": rt_test[:TEST_SLICE],
        "imdb_sample_valid": splits["imdb_valid"]["text"].tolist(),
    }


def run_metrics(
    args: argparse.Namespace,
    splits: dict[str, Any],
    model: torch.nn.Module,
    weights: Path,
    history: Any,
    clock: tuple[float, float, float],
    scores: dict[str, Any],
    sample: dict[str, list[str]],
    **sizes: int,
) -> dict[str, Any]:
    """What every ``metrics.json`` holds: date, settings, data and model sizes, times, scores.

    ``clock`` is ``(started, training seconds, training CPU seconds)``; ``sizes`` are the
    model's own counts (``vocab_size``, …), written before the parameter count.
    """
    started, train_time, train_cpu = clock
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": args.seed,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "dataset_sizes": {k: len(v) for k, v in splits.items()},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} torch threads",
        **sizes,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "weights_bytes": weights.stat().st_size,
        "history": history,
        "seconds": {
            "training": round(train_time, 1),
            "training_cpu": round(train_cpu, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "perplexity": scores,
        "sample_next_tokens": sample,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Indented JSON with a final newline."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------- GPT
def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A lower-casing byte-level BPE whose post-processor puts ``<|endoftext|>`` first."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, processors, trainers
    from tokenizers import pre_tokenizers as pre

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace(Regex(r"\s+"), " ")]
    )
    tok.pre_tokenizer = pre.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOT, PAD],
        initial_alphabet=pre.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=True),
            processors.TemplateProcessing(
                single=f"{EOT} $A", special_tokens=[(EOT, tok.token_to_id(EOT))]
            ),
        ]
    )
    return tok


def token_blocks(tok: Any, texts: list[str], size: int, gen: torch.Generator) -> torch.Tensor:
    """The texts, shuffled once, as one stream ``EOT t1 EOT t2 ...`` cut into ``(n, size)``."""
    stream: list[int] = []
    for i in torch.randperm(len(texts), generator=gen).tolist():
        stream.extend(tok.encode(texts[i]).ids)  # starts with EOT (the post-processor)
    stream.append(tok.token_to_id(EOT))
    n = len(stream) // size
    return torch.tensor(stream[: n * size], dtype=torch.long).view(n, size)


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up to ``peak``, then cosine decay to a tenth of it."""
    if step < warmup:
        return peak * (step + 1) / warmup
    done = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))


def gpt_perplexity(lm: gpt_lm.CausalLM, texts: list[str]) -> PerplexityResult:
    """Perplexity of the GPT model, every text on its own, windows of its context."""
    model, tokenizer = lm
    return perplexity(
        gpt_lm.logits_fn(model),
        lambda t: gpt_lm.encode(tokenizer, t),
        texts,
        window=model.config.n_positions,
    )


def train_gpt(args: argparse.Namespace, splits: dict[str, Any]) -> None:
    """Train the tokenizer and the GPT-2-style model; write the package files and metrics."""
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out = args.out or DATA / "gpt_lm"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    texts = training_texts(splits, args.imdb_train_words)
    tok = train_tokenizer(texts, args.vocab_size)
    eot, pad = tok.token_to_id(EOT), tok.token_to_id(PAD)
    config = GPT2Config(
        vocab_size=tok.get_vocab_size(),
        n_positions=args.context,
        n_embd=args.width,
        n_layer=args.layers,
        n_head=args.heads,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=pad,
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.dropout,
    )
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(config)
    gen = torch.Generator().manual_seed(args.seed)
    blocks = token_blocks(tok, texts, args.context, gen)
    steps_per_epoch = math.ceil(len(blocks) / args.bs)
    total = steps_per_epoch * args.epochs
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOT, eos_token=EOT, pad_token=PAD
    )
    valid = splits["rt_valid"]["text"].tolist()
    history: list[dict[str, float]] = []
    step, t0, cpu0 = 0, time.perf_counter(), time.process_time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(blocks), generator=gen)
        losses = []
        for i in range(0, len(blocks), args.bs):
            batch = blocks[order[i : i + args.bs]]
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, args.warmup, args.lr)
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            step += 1
        model.eval()
        ppl = gpt_perplexity(gpt_lm.CausalLM(model, fast), valid)
        row = {
            "epoch": epoch + 1,
            "train_loss": round(sum(losses) / len(losses), 4),
            "valid_per_token": round(ppl.per_token, 2),
            "valid_per_word": round(ppl.per_word, 2),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        history.append(row)
        print(row, flush=True)
    train_time, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0

    config.to_json_file(str(out / "config.json"))
    tok.save(str(out / "tokenizer.json"))
    weights = out / "weights.pt"
    torch.save(fp16_state_dict(model), weights)
    shipped = gpt_lm.load(out)  # evaluate exactly what the package loads
    scores = {name: gpt_perplexity(shipped, t).to_dict() for name, t in held_out(splits).items()}
    print(json.dumps(scores), flush=True)
    prompt = "the movie is"
    with torch.no_grad():
        logits = shipped.model(**shipped.tokenizer(prompt, return_tensors="pt")).logits[0, -1]
    top = [shipped.tokenizer.decode([i]) for i in logits.topk(5).indices.tolist()]
    metrics = run_metrics(
        args, splits, model, weights, history, (started, train_time, train_cpu), scores,
        {prompt: top}, training_tokens=int(blocks.numel()), vocab_size=config.vocab_size,
    )  # fmt: skip
    metrics["versions"]["transformers"] = __import__("transformers").__version__
    metrics["versions"]["tokenizers"] = __import__("tokenizers").__version__
    write_json(out / "metrics.json", metrics)


# ------------------------------------------------------------------------------ AWD-LSTM
def train_awd(args: argparse.Namespace, splits: dict[str, Any]) -> None:
    """Train the fastai AWD-LSTM language model on the classifier's vocabulary; write files."""
    import pandas as pd
    from fastai.text.all import (
        AWD_LSTM,
        ColReader,
        ColSplitter,
        DataBlock,
        Perplexity,
        TextBlock,
        accuracy,
        awd_lstm_lm_config,
        language_model_learner,
        set_seed,
    )

    out = args.out or DATA / "awd_lstm_lm"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    set_seed(args.seed, reproducible=True)
    clas = awd_lstm.read_config()
    vocab = json.loads((awd_lstm.DATA_DIR / clas["vocab"]).read_text(encoding="utf-8"))
    sizes = {k: clas["awd_lstm_config"][k] for k in ("emb_sz", "n_hid", "n_layers")}
    texts = training_texts(splits, args.imdb_train_words)
    valid = [plain_text(t) for t in splits["rt_valid"]["text"]]
    df = pd.DataFrame(
        {"text": texts + valid, "is_valid": [False] * len(texts) + [True] * len(valid)}
    )
    block = DataBlock(
        blocks=TextBlock.from_df("text", is_lm=True, vocab=vocab, n_workers=0),
        get_x=ColReader("text"),
        splitter=ColSplitter("is_valid"),
    )
    dls = block.dataloaders(df, bs=args.bs, seq_len=args.bptt, num_workers=0)
    config = {**awd_lstm_lm_config, **sizes}
    learn = language_model_learner(
        dls,
        AWD_LSTM,
        config=config,
        pretrained=False,
        drop_mult=args.drop_mult,
        metrics=[accuracy, Perplexity()],
        wd=args.wd,
        path=out,
        model_dir=".",
    )
    t0, cpu0 = time.perf_counter(), time.process_time()
    learn.fit_one_cycle(args.epochs, args.lr)
    train_time, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    names = learn.recorder.metric_names[1:-1]
    history = [
        dict(zip(names, (float(v) for v in row), strict=True)) for row in learn.recorder.values
    ]

    (out / "vocab.json").write_text(json.dumps(list(dls.vocab), ensure_ascii=False))
    write_json(
        out / "config.json",
        {
            "arch": "AWD_LSTM",
            "awd_lstm_config": config,
            "drop_mult": args.drop_mult,
            "seq_len": args.bptt,
            "weights": "weights.pt",
            "weights_dtype": "float16",
            "vocab": "vocab.json",
            "tokenizer": clas["tokenizer"],
            "classifier": "awd_lstm (same vocabulary and encoder sizes)",
        },
    )
    weights = out / "weights.pt"
    torch.save(fp16_state_dict(learn.model), weights)
    shipped = awd_lstm_lm.load(out)  # evaluate exactly what the package loads
    scores = {
        name: awd_lstm_lm.perplexity_of(shipped, t).to_dict()
        for name, t in held_out(splits).items()
    }
    print(json.dumps(scores), flush=True)
    prompt = "the movie is"
    with torch.no_grad():
        ids = torch.tensor([awd_lstm_lm.encode(shipped, prompt)[:-1]])
        last = awd_lstm_lm.logits(shipped, ids)[0, -1]
    top = [shipped.dls.vocab[i] for i in last.topk(5).indices.tolist()]
    metrics = run_metrics(
        args, splits, learn.model, weights, {"columns": list(names), "rows": history},
        (started, train_time, train_cpu), scores, {prompt: top}, vocab_size=len(dls.vocab),
    )  # fmt: skip
    metrics["versions"]["fastai"] = __import__("fastai").__version__
    write_json(out / "metrics.json", metrics)


def main() -> None:
    """Parse the options and train the chosen model(s)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", choices=("gpt", "awd", "both"), nargs="?", default="both")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--imdb-train-words", type=int, default=150)
    p.add_argument("--smoke", type=int, default=0, help="at most N rows of every split")
    p.add_argument("--out", type=Path, default=None, help="output folder (one model only)")
    g = p.add_argument_group("gpt")
    g.add_argument("--vocab-size", type=int, default=8000)
    g.add_argument("--context", type=int, default=128)
    g.add_argument("--width", type=int, default=192)
    g.add_argument("--layers", type=int, default=4)
    g.add_argument("--heads", type=int, default=4)
    g.add_argument("--dropout", type=float, default=0.1)
    g.add_argument("--gpt-epochs", type=int, default=3)
    g.add_argument("--gpt-lr", type=float, default=2e-3)
    g.add_argument("--gpt-bs", type=int, default=16)
    g.add_argument("--warmup", type=int, default=100)
    a = p.add_argument_group("awd")
    a.add_argument("--awd-epochs", type=int, default=2)
    a.add_argument("--awd-lr", type=float, default=1e-2)
    a.add_argument("--awd-bs", type=int, default=64)
    a.add_argument("--bptt", type=int, default=72)
    a.add_argument("--drop-mult", type=float, default=0.5)
    args = p.parse_args()
    if args.out is not None and args.model == "both":
        p.error("--out needs one model: gpt or awd")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    splits = load_splits(shared_data_dir(), args.seed, test_pct=0.10, valid_pct=0.05)
    if args.smoke:
        splits = {k: v.head(args.smoke) for k, v in splits.items()}
    print("sizes", {k: len(v) for k, v in splits.items()}, flush=True)
    if args.model in ("gpt", "both"):
        run = argparse.Namespace(
            **vars(args), epochs=args.gpt_epochs, lr=args.gpt_lr, bs=args.gpt_bs, wd=0.1
        )
        train_gpt(run, splits)
    if args.model in ("awd", "both"):
        run = argparse.Namespace(
            **vars(args), epochs=args.awd_epochs, lr=args.awd_lr, bs=args.awd_bs, wd=0.1
        )
        train_awd(run, splits)


if __name__ == "__main__":
    main()
