"""Train the bundled CNN sentiment model from scratch on ../shared/data and record its metrics.

Usage: ``.venv/bin/python scripts/train_cnn_model.py [--epochs 8] [--out DIR]``

Data: rt-polarity (neg + pos lines permuted by ``numpy.random.default_rng(42)``; the first
10 % are the held-out test split, the same as in ``train_demo_model.py``) and the imdb_sample
rows with ``is_valid == False``. The 200 ``is_valid`` imdb reviews are only evaluated on. A
further 10 % of the training examples (seed 43) is the early-stopping validation split.
Writes ``config.json``, ``vocab.json``, ``weights.pt`` (float16 state dict) and
``metrics.json`` into ``ig_widgets/models/data/cnn``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ig_widgets.models.cnn import CLASSES, CNNClassifier, CNNConfig, load_files  # noqa: E402
from ig_widgets.models.tokenizer import WordTokenizer  # noqa: E402

Example = tuple[str, int]


def shared_data() -> Path:
    """The shared data folder beside the repository (or ``$IGW_SHARED_DATA``)."""
    return Path(os.environ.get("IGW_SHARED_DATA", ROOT / ".." / "shared" / "data")).resolve()


def rt_split(data: Path, seed: int = 42, test_frac: float = 0.1) -> tuple[list, list]:
    """rt-polarity as (train, test), the same held-out test split as ``train_demo_model.py``.

    The non-empty stripped neg lines then pos lines are permuted with
    ``numpy.random.default_rng(seed)``; the first ``round(10 %)`` are the test split.
    """
    neg, pos = (read_lines(data / f"rt-polarity.{kind}") for kind in ("neg", "pos"))
    examples = [(t, 0) for t in neg] + [(t, 1) for t in pos]
    order = np.random.default_rng(seed).permutation(len(examples))
    n_test = round(len(examples) * test_frac)
    return [examples[i] for i in order[n_test:]], [examples[i] for i in order[:n_test]]


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a text file."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip()]


def imdb_split(data: Path) -> tuple[list, list]:
    """imdb_sample as (train rows, the 200 ``is_valid`` rows)."""
    train, valid = [], []
    with open(data / "imdb_sample.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            example = (row["text"], CLASSES.index(row["label"]))
            (valid if row["is_valid"] == "True" else train).append(example)
    return train, valid


def encode_all(tok: WordTokenizer, examples: list[Example], max_len: int) -> list:
    """(ids, label) pairs, ids cut to ``max_len`` tokens."""
    return [(tok.encode(text)[0][:max_len], label) for text, label in examples]


def batches(encoded: list, size: int, rng: random.Random, pad_id: int) -> list:
    """Length-bucketed, padded batches (padding rows embed to zero vectors)."""
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i][0]), rng.random()))
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(chunks)
    out = []
    for chunk in chunks:
        n = max(len(encoded[i][0]) for i in chunk)
        ids = torch.full((len(chunk), n), pad_id, dtype=torch.long)
        for row, i in enumerate(chunk):
            ids[row, : len(encoded[i][0])] = torch.tensor(encoded[i][0])
        out.append((ids, torch.tensor([encoded[i][1] for i in chunk])))
    return out


def word_dropout(ids: torch.Tensor, p: float, unk_id: int, pad_id: int, gen: torch.Generator):
    """Replace a fraction ``p`` of the real tokens by ``<unk>`` (training augmentation)."""
    if p <= 0:
        return ids
    drop = (torch.rand(ids.shape, generator=gen) < p) & (ids != pad_id)
    return ids.masked_fill(drop, unk_id)


@torch.no_grad()
def accuracy(model: CNNClassifier, encoded: list) -> float:
    """Accuracy with one unpadded example at a time, exactly as the model is used."""
    model.eval()
    hits = sum(int(model(torch.tensor([ids])).argmax(-1).item() == y) for ids, y in encoded)
    return hits / len(encoded)


def train(args: argparse.Namespace) -> None:
    """Train, keep the best epoch on the validation split, save files and metrics."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    data = shared_data()
    t0 = time.perf_counter()
    rt_train, rt_test = rt_split(data)
    imdb_train, imdb_valid = imdb_split(data)
    pool = rt_train + imdb_train
    random.Random(43).shuffle(pool)
    n_val = int(len(pool) * 0.1)
    val, fit = pool[:n_val], pool[n_val:]
    tok = WordTokenizer.build((t for t, _ in fit), max_size=args.vocab_size, min_freq=2)
    config = CNNConfig(
        vocab_size=len(tok),
        emb_dim=args.emb_dim,
        n_filters=args.n_filters,
        widths=tuple(args.widths),
        dropout=args.dropout,
        pad_id=tok.pad_id,
    )
    model = CNNClassifier(config)
    with torch.no_grad():  # small embeddings: N(0, 1) rows make the first epochs wasteful
        model.embedding.weight.uniform_(-args.init_scale, args.init_scale)
        model.embedding.weight[tok.pad_id].zero_()
    fit_enc = encode_all(tok, fit, args.max_len)
    val_enc = encode_all(tok, val, args.max_len)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    gen = torch.Generator().manual_seed(args.seed)
    best, best_state, history, stale = -1.0, None, [], 0
    t_train = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for ids, y in batches(fit_enc, args.batch_size, rng, tok.pad_id):
            ids = word_dropout(ids, args.word_dropout, tok.unk_id, tok.pad_id, gen)
            loss = F.cross_entropy(model(ids), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
        val_acc = accuracy(model, val_enc)
        history.append({"epoch": epoch, "train_loss": total / len(fit_enc), "val_acc": val_acc})
        print(f"epoch {epoch}: loss {total / len(fit_enc):.4f} val {val_acc:.4f}", flush=True)
        if val_acc > best:
            best, stale = val_acc, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= args.patience:
                break
    train_seconds = time.perf_counter() - t_train
    assert best_state is not None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in best_state.items()}, out / "weights.pt")
    tok.save(out / "vocab.json")
    meta = {"model": config.to_dict(), "classes": list(CLASSES), "tokenizer": "WordTokenizer"}
    (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    # evaluate the model exactly as shipped: float16 weights, reloaded from disk
    t_load = time.perf_counter()
    shipped, tok2, _ = load_files(out)
    load_seconds = time.perf_counter() - t_load
    rt_acc = accuracy(shipped, encode_all(tok2, rt_test, 10**9))
    imdb_acc = accuracy(shipped, encode_all(tok2, imdb_valid, 10**9))
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.name != "metrics.json"}
    metrics = {
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "data": {
            "rt_split": "neg+pos lines permuted by numpy default_rng(42); first 10 % held out "
            "(the split of train_demo_model.py)",
            "val_split": "10 % of rt train + imdb train, shuffled with random.Random(43)",
            "n_fit": len(fit),
            "n_val": len(val),
            "n_rt_test": len(rt_test),
            "n_imdb_valid": len(imdb_valid),
        },
        "accuracy": {"rt_test": rt_acc, "imdb_valid": imdb_acc, "best_val": best},
        "history": history,
        "n_parameters": sum(p.numel() for p in shipped.parameters()),
        "file_bytes": sizes,
        "total_bytes": sum(sizes.values()),
        "seconds": {
            "train": round(train_seconds, 1),
            "total": round(time.perf_counter() - t0, 1),
            "load": round(load_seconds, 3),
        },
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(metrics["accuracy"]), metrics["total_bytes"], "bytes")


def main() -> None:
    """Parse the command line and train."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "ig_widgets" / "models" / "data" / "cnn"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--vocab-size", type=int, default=20000)
    p.add_argument("--emb-dim", type=int, default=128)
    p.add_argument("--n-filters", type=int, default=100)
    p.add_argument("--widths", type=int, nargs="+", default=[3, 4, 5])
    p.add_argument("--init-scale", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--word-dropout", type=float, default=0.1)
    p.add_argument("--max-len", type=int, default=200)
    train(p.parse_args())


if __name__ == "__main__":
    main()
