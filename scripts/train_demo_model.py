"""Train the bundled fastai AWD-LSTM sentiment classifier from scratch, offline.

ULMFiT in miniature, on local data only (``../shared/data`` beside the repository, or
``$IGW_SHARED_DATA``):

1. a seeded split of rt-polarity into train / valid (monitoring only) / test (held out,
   evaluated once at the end);
2. optionally (``--lm-epochs N``) an AWD-LSTM language model trained from scratch on the
   training texts: rt-polarity train sentences and the imdb_sample rows with
   ``is_valid == False``, each review clipped to its first and last 75 words (long reviews make
   training many times slower on a 2-core machine);
3. a classifier (classes ``negative``, ``positive``) on the same training rows, starting from
   the language model's encoder with gradual unfreezing (else from scratch, one cycle);
4. the weights are stored as a float16 state dict, reloaded as float32, and the reloaded model
   is evaluated on the rt-polarity test split and on the 200 imdb_sample ``is_valid`` reviews.

Writes ``weights.pt``, ``vocab.json``, ``config.json`` and ``metrics.json`` into
``ig_widgets/models/data/awd_lstm/``.  Run: ``.venv/bin/python scripts/train_demo_model.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "ig_widgets" / "models" / "data" / "awd_lstm"
CLASSES = ("negative", "positive")


def shared_data_dir() -> Path:
    """The shared data folder: ``$IGW_SHARED_DATA`` or ``../shared/data`` beside the repo."""
    env = os.environ.get("IGW_SHARED_DATA")
    return Path(env) if env else (REPO / ".." / "shared" / "data").resolve()


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a text file."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip()]


def load_splits(
    data: Path, seed: int, test_pct: float, valid_pct: float
) -> dict[str, pd.DataFrame]:
    """rt-polarity split into train/valid/test by a seeded permutation, plus the imdb rows."""
    pos = read_lines(data / "rt-polarity.pos")
    neg = read_lines(data / "rt-polarity.neg")
    rt = pd.DataFrame(
        {"text": neg + pos, "label": ["negative"] * len(neg) + ["positive"] * len(pos)}
    )
    order = np.random.default_rng(seed).permutation(len(rt))
    n_test, n_valid = round(len(rt) * test_pct), round(len(rt) * valid_pct)
    rt_test = rt.iloc[order[:n_test]].reset_index(drop=True)
    rt_valid = rt.iloc[order[n_test : n_test + n_valid]].reset_index(drop=True)
    rt_train = rt.iloc[order[n_test + n_valid :]].reset_index(drop=True)
    imdb = pd.read_csv(data / "imdb_sample.csv")
    is_valid = imdb["is_valid"].astype(str).str.lower() == "true"
    imdb_train = imdb.loc[~is_valid, ["text", "label"]].reset_index(drop=True)
    imdb_valid = imdb.loc[is_valid, ["text", "label"]].reset_index(drop=True)
    return {
        "rt_train": rt_train,
        "rt_valid": rt_valid,
        "rt_test": rt_test,
        "imdb_train": imdb_train,
        "imdb_valid": imdb_valid,
    }


def clip_words(text: str, max_words: int) -> str:
    """Keep the first and last ``max_words // 2`` words of a longer text (cheaper training)."""
    words = text.split()
    if max_words <= 0 or len(words) <= max_words:
        return text
    half = max_words // 2
    return " ".join([*words[:half], "...", *words[-half:]])


def subsample(splits: dict[str, pd.DataFrame], n: int, seed: int) -> dict[str, pd.DataFrame]:
    """At most ``n`` rows of every split (smoke runs only)."""
    return {k: v.sample(min(n, len(v)), random_state=seed) for k, v in splits.items()}


def fp16_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with float tensors as float16, shared tensors kept shared."""
    seen: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}
    out: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        key = (t.data_ptr(), tuple(t.shape))
        if key not in seen:
            t = t.detach().cpu()
            seen[key] = t.half().clone() if t.is_floating_point() else t.clone()
        out[name] = seen[key]
    return out


def accuracy_on(learn: Any, df: pd.DataFrame, bs: int) -> float:
    """Accuracy of ``learn`` on the texts and labels of ``df`` (whole texts, batched)."""
    dl = learn.dls.test_dl(df["text"].tolist(), bs=bs)
    probs, _ = learn.get_preds(dl=dl)
    predicted = np.asarray(CLASSES)[probs.argmax(1).numpy()]
    return float((predicted == df["label"].to_numpy()).mean())


def main() -> None:
    """Train, evaluate, and write the package data."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--test-pct", type=float, default=0.10)
    p.add_argument("--valid-pct", type=float, default=0.05)
    p.add_argument("--max-vocab", type=int, default=16000)
    p.add_argument("--min-freq", type=int, default=3)
    p.add_argument("--emb-sz", type=int, default=200)
    p.add_argument("--n-hid", type=int, default=384)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--lm-epochs", type=int, default=0)
    p.add_argument("--lm-lr", type=float, default=1e-2)
    p.add_argument("--lm-drop-mult", type=float, default=0.5)
    p.add_argument("--clas-lr", type=float, default=1e-2)
    p.add_argument("--clas-drop-mult", type=float, default=1.0)
    p.add_argument("--wd", type=float, default=0.1, help="weight decay of both learners")
    p.add_argument(
        "--clas-epochs",
        type=int,
        nargs=3,
        default=[1, 1, 0],
        help="epochs frozen / last two groups / all unfrozen (summed without LM)",
    )
    p.add_argument(
        "--imdb-train-words",
        type=int,
        default=150,
        help="imdb training reviews keep their first and last N/2 words (0: all)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--smoke", type=int, default=0, help="subsample every split to N rows")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()

    from fastai.text.all import (
        AWD_LSTM,
        CategoryBlock,
        ColReader,
        ColSplitter,
        DataBlock,
        Perplexity,
        RandomSplitter,
        TextBlock,
        accuracy,
        awd_lstm_clas_config,
        awd_lstm_lm_config,
        language_model_learner,
        set_seed,
        text_classifier_learner,
    )

    torch.set_num_threads(args.threads)
    set_seed(args.seed, reproducible=True)
    started = time.perf_counter()
    splits = load_splits(shared_data_dir(), args.seed, args.test_pct, args.valid_pct)
    if args.smoke:
        splits = subsample(splits, args.smoke, args.seed)
    sizes = {k: len(v) for k, v in splits.items()}
    print("sizes", sizes, flush=True)
    arch = {"emb_sz": args.emb_sz, "n_hid": args.n_hid, "n_layers": args.n_layers}
    tmp = Path(tempfile.mkdtemp(prefix="igw_train_"))

    imdb_train = splits["imdb_train"].assign(
        text=lambda d: d["text"].map(lambda t: clip_words(t, args.imdb_train_words))
    )
    train = pd.concat([splits["rt_train"], imdb_train], ignore_index=True)
    lm_stats: dict[str, float] = {}
    vocab: list[str] | None = None
    if args.lm_epochs:
        # 1. optional ULMFiT step: a language model on the training texts only
        lm_block = DataBlock(
            blocks=TextBlock.from_df(
                "text", is_lm=True, min_freq=args.min_freq, max_vocab=args.max_vocab
            ),
            get_x=ColReader("text"),
            splitter=RandomSplitter(0.1, seed=args.seed),
        )
        dls_lm = lm_block.dataloaders(train[["text"]], bs=args.bs, seq_len=72)
        vocab = list(dls_lm.vocab)
        lm = language_model_learner(
            dls_lm,
            AWD_LSTM,
            config={**awd_lstm_lm_config, **arch},
            pretrained=False,
            drop_mult=args.lm_drop_mult,
            metrics=[accuracy, Perplexity()],
            path=tmp,
            wd=args.wd,
        )
        t0 = time.perf_counter()
        lm.fit_one_cycle(args.lm_epochs, args.lm_lr)
        lm_stats["seconds"] = round(time.perf_counter() - t0, 1)
        names = ("valid_loss", "valid_accuracy", "valid_perplexity")
        lm_stats.update(zip(names, (float(x) for x in lm.validate()), strict=True))
        lm.save_encoder("enc")

    # 2. classifier on the labelled training rows (valid = monitoring split of rt-polarity)
    df = pd.concat(
        [train.assign(is_valid=False), splits["rt_valid"].assign(is_valid=True)], ignore_index=True
    )
    text_block = TextBlock.from_df(
        "text", vocab=vocab, min_freq=args.min_freq, max_vocab=args.max_vocab
    )
    clas_block = DataBlock(
        blocks=(text_block, CategoryBlock(vocab=list(CLASSES))),
        get_x=ColReader("text"),
        get_y=ColReader("label"),
        splitter=ColSplitter("is_valid"),
    )
    dls = clas_block.dataloaders(df, bs=args.bs)
    vocab = list(dls.vocab[0])
    print("vocab", len(vocab), flush=True)
    assert list(dls.vocab[1]) == list(CLASSES), dls.vocab[1]
    clas_cfg = {**awd_lstm_clas_config, **arch}
    learn = text_classifier_learner(
        dls,
        AWD_LSTM,
        config=clas_cfg,
        pretrained=False,
        drop_mult=args.clas_drop_mult,
        metrics=accuracy,
        path=tmp,
        wd=args.wd,
    )
    lr = args.clas_lr
    t0 = time.perf_counter()
    if args.lm_epochs:
        # gradual unfreezing from the pretrained encoder
        learn.load_encoder("enc")
        e_frozen, e_two, e_all = args.clas_epochs
        learn.freeze()
        learn.fit_one_cycle(e_frozen, lr)
        learn.freeze_to(-2)
        learn.fit_one_cycle(e_two, slice(lr / 2 / 2.6**4, lr / 2))
        learn.unfreeze()
        learn.fit_one_cycle(e_all, slice(lr / 10 / 2.6**4, lr / 10))
    else:
        # from a random encoder nothing is worth freezing: train everything at once
        learn.fit_one_cycle(sum(args.clas_epochs), lr)
    clas_time = time.perf_counter() - t0
    history = [[float(v) for v in row] for row in learn.recorder.values]

    # 3. ship float16 weights; evaluate the model as it will be loaded (float16 -> float32)
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / "weights.pt"
    torch.save(fp16_state_dict(learn.model), weights)
    shipped = torch.load(weights, weights_only=True)
    learn.model.load_state_dict({k: v.float() for k, v in shipped.items()})
    learn.model.eval()
    t0 = time.perf_counter()
    acc_rt = accuracy_on(learn, splits["rt_test"], bs=128)
    acc_imdb = accuracy_on(learn, splits["imdb_valid"], bs=16)
    eval_time = time.perf_counter() - t0
    sample = "a gorgeous, moving film"
    sample_pred = str(learn.predict(sample)[0])
    print(f"rt test acc {acc_rt:.4f}  imdb valid acc {acc_imdb:.4f}  {sample!r} -> {sample_pred}")

    n_params = sum(p.numel() for p in learn.model.parameters())
    config = {
        "arch": "AWD_LSTM",
        "awd_lstm_config": clas_cfg,
        "classes": list(CLASSES),
        "seq_len": 72,
        "max_len": 1440,
        "drop_mult": args.clas_drop_mult,
        "lin_ftrs": None,
        "weights": weights.name,
        "weights_dtype": "float16",
        "vocab": "vocab.json",
        "tokenizer": {
            "name": "fastai Tokenizer(SpacyTokenizer('en'))",
            "rules": "fastai defaults.text_proc_rules",
            "special_tokens": "fastai defaults.text_spec_tok",
        },
    }
    metrics = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": args.seed,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "dataset_sizes": sizes,
        "vocab_size": len(vocab),
        "n_parameters": n_params,
        "weights_bytes": weights.stat().st_size,
        "lm": lm_stats or None,
        "classifier_history": {"columns": list(learn.recorder.metric_names[1:-1]), "rows": history},
        "seconds": {
            "lm": lm_stats.get("seconds", 0.0),
            "classifier": round(clas_time, 1),
            "evaluation": round(eval_time, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "accuracy": {"rt_polarity_test": acc_rt, "imdb_sample_valid": acc_imdb},
        "sample_prediction": {sample: sample_pred},
        "versions": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "fastai": __import__("fastai").__version__,
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} torch threads",
    }
    (args.out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics["accuracy"]), metrics["seconds"], flush=True)
    shutil.rmtree(tmp, ignore_errors=True)  # the LM encoder checkpoint, if any


if __name__ == "__main__":
    main()
