"""A BERT-base-sized classifier (random weights) through the engine, the floor and Captum.

Run: ``.venv/bin/python -m benchmarks.bert_base [--quick] [--json out.json]`` from the project
root. Nothing is downloaded: the model is ``BertForSequenceClassification(BertConfig())`` (12
layers, hidden 768, 110 M parameters, random weights: speed and memory do not depend on them)
and the WordPiece tokenizer is built in memory. Prints a Markdown table of ratios. Times are
medians over runs taken back to back in pairs, the order alternating (see ``benchmarks/run.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.run import paired_ratio, timed

ROOT = Path(__file__).resolve().parents[1]

#: whole words of the synthetic texts (each is one WordPiece token)
WORDS = tuple(
    " ".join(
        (
            "the a film movie story plot acting cast music scene director camera ending dialogue",
            "was is not very quite rather good great bad awful boring moving funny clever dull",
            "warm slow long short honest beautiful stupid and but or so because while it this",
            "that they we i you he she of in on at with for from about after before again never",
        )
    ).split()
)
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: a BERT-base-sized configuration is ``BertConfig()``; this one runs in a second
TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}


def import_transformers() -> Any:
    """transformers, with the venv's mismatched torchvision marked absent (it cannot load)."""
    import importlib

    sys.modules.setdefault("torchvision", None)  # type: ignore[arg-type]
    return importlib.import_module("transformers")


def make_tokenizer(vocab_size: int, max_length: int = 512) -> Any:
    """A fast WordPiece tokenizer: specials, :data:`WORDS`, then ``[unused…]`` up to size."""
    transformers = import_transformers()
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    names = [*SPECIALS, *WORDS]
    names += [f"[unused{i}]" for i in range(vocab_size - len(names))]
    vocab = {w: i for i, w in enumerate(names)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def make_text(n_tokens: int, seed: int = 0) -> str:
    """Words of :data:`WORDS` in a fixed pseudo-random order: ``n_tokens`` with [CLS], [SEP]."""
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(WORDS), (n_tokens - 2,), generator=gen).tolist()
    return " ".join(WORDS[i] for i in picks)


@dataclass
class Bench:
    """The model, its tokenizer and explainer, and the three ways of computing IG on it."""

    model: Any
    tokenizer: Any
    explainer: Any

    @classmethod
    def build(cls, tiny: bool = False, num_labels: int = 2, seed: int = 0) -> Bench:
        """``BertForSequenceClassification(BertConfig())`` (or :data:`TINY`), in eval mode."""
        import ig_widgets as igw

        transformers = import_transformers()
        config = transformers.BertConfig(num_labels=num_labels, **(TINY if tiny else {}))
        torch.manual_seed(seed)
        model = transformers.BertForSequenceClassification(config).eval()
        tokenizer = make_tokenizer(config.vocab_size, config.max_position_embeddings)
        return cls(model, tokenizer, igw.Explainer(model, tokenizer=tokenizer))

    @property
    def n_classes(self) -> int:
        """Number of labels."""
        return len(self.explainer.classes)

    def engine(self, text: str, n_steps: int, method: str = "gausslegendre") -> Any:
        """A fresh explanation (every class; no cached points)."""
        self.explainer.clear_cache()
        return self.explainer.explain(text, n_steps=n_steps, method=method)

    def first_stage(self, text: str, n_steps: int) -> Any:
        """What the Explorer shows first: the coarse stage of ``Explainer.refine``."""
        self.explainer.clear_cache()
        stages = self.explainer.refine(text, n_steps=n_steps)
        first = next(stages)
        stages.close()
        return first

    def floor(self, text: str, n_steps: int) -> None:
        """One forward and one backward over the batch of ``n_steps`` interpolation points."""
        adapter = self.explainer.adapter
        ids = torch.tensor(adapter.tokenize(text).ids)
        with adapter.prepared():
            x = adapter.embed(ids.unsqueeze(0)).detach()
            alphas = torch.linspace(0, 1, n_steps).view(-1, 1, 1)
            points = (alphas * x).requires_grad_(True)
            out = adapter.forward_embeds(points, ids)
            torch.autograd.grad(out[:, -1].sum(), points)

    def captum(
        self, text: str, n_steps: int, target: int, batch: int | None = None
    ) -> torch.Tensor:
        """Captum ``LayerIntegratedGradients`` on the word embeddings, the same baseline."""
        from captum.attr import LayerIntegratedGradients

        adapter = self.explainer.adapter
        tok = adapter.tokenize(text)
        base_id = adapter.token_id(adapter.default_baseline_token)
        ids = torch.tensor([tok.ids])
        base = torch.tensor([[i if k else base_id for i, k in zip(tok.ids, tok.keep, strict=True)]])

        def forward(x: torch.Tensor) -> torch.Tensor:
            mask = torch.ones_like(x)
            return self.model(input_ids=x, attention_mask=mask).logits.softmax(-1)

        lig = LayerIntegratedGradients(forward, self.model.get_input_embeddings())
        with adapter.prepared():
            attr: torch.Tensor = lig.attribute(
                ids, base, target=target, n_steps=n_steps, internal_batch_size=batch
            )
        return attr


def engine_over_floor(bench: Bench, n_tokens: int, n_steps: int, pairs: int) -> dict[str, float]:
    """Engine (trapezoid: F at the path ends are among its points) / floor, same points.

    Beside it, the one fixed cost of a new text: the model's own forward on the ids that
    F at the input is checked against (a batch of one, without gradients).
    """
    text = make_text(n_tokens)
    pair = paired_ratio(
        timed(lambda: bench.engine(text, n_steps, method="riemann_trapezoid")),
        timed(lambda: bench.floor(text, n_steps)),
        pairs,
    )
    adapter = bench.explainer.adapter
    ids = torch.tensor(adapter.tokenize(text).ids)
    check = statistics.median(timed(lambda: adapter.reference_forward(ids))() for _ in range(3))
    return {
        f"engine_{n_tokens}_s": pair["a_s"],
        f"floor_{n_tokens}_s": pair["b_s"],
        f"engine_over_floor_{n_tokens}": pair["ratio"],
        f"engine_over_floor_{n_tokens}_low": pair["low"],
        f"engine_over_floor_{n_tokens}_high": pair["high"],
        f"steps_{n_tokens}": float(n_steps),
        f"check_forward_{n_tokens}_s": check,
    }


def engine_over_captum(bench: Bench, n_tokens: int, n_steps: int, pairs: int) -> dict[str, float]:
    """Every class from the engine / Captum called once per class (Gauss-Legendre both)."""
    text = make_text(n_tokens)
    pair = paired_ratio(
        timed(lambda: bench.engine(text, n_steps)),
        timed(lambda: [bench.captum(text, n_steps, c) for c in range(bench.n_classes)]),
        pairs,
    )
    return {
        "all_classes_engine_s": pair["a_s"],
        "captum_per_class_s": pair["b_s"],
        "engine_over_captum": pair["ratio"],
    }


def first_over_captum(
    bench: Bench, n_tokens: int, n_steps: int, batch: int | None
) -> dict[str, float]:
    """Explorer's first result (refine's coarse stage) / Captum's full run, one class.

    One pair (AB then BA) without a warm-up: the earlier measures ran both code paths.
    """
    text = make_text(n_tokens)
    first = timed(lambda: bench.first_stage(text, n_steps))
    full = timed(lambda: bench.captum(text, n_steps, bench.n_classes - 1, batch))
    a1, b1 = first(), full()
    b2, a2 = full(), first()
    return {
        "first_result_s": (a1 + a2) / 2,
        "captum_full_s": (b1 + b2) / 2,
        "first_over_captum": (a1 / b1 + a2 / b2) / 2,
        "first_stage_points": float(bench.first_stage(text, n_steps).n_steps),
    }


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_extra_memory(
    bench: Bench, n_tokens: int, n_steps: int, chunks: int, interval: float = 0.002
) -> dict[str, float]:
    """Peak resident memory above the starting point while the engine runs ``chunks`` chunks.

    RSS is sampled every ``interval`` seconds from a thread. tracemalloc would see nothing:
    it traces Python's allocators, and torch's CPU tensors come from its own (``posix_memalign``).
    The engine starts cold, as on a new text length: it measures one point (a chunk of one),
    then sizes every later chunk by its memory budget, so with ``chunks`` ≥ 2 the first chunks
    already reach the peak of the whole run, and the rest is cancelled. Run it in a fresh
    process: memory freed earlier stays resident and would hide what a run adds.
    """
    import ctypes
    import gc

    from ig_widgets import Cancelled

    text = make_text(n_tokens)
    bench.explainer.tokenize(text)
    seen = [0]

    def cancel() -> bool:
        seen[0] += 1
        return seen[0] > chunks

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap pages back before the baseline
    base = rss_bytes()
    peak, stop = [base], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(interval)

    watcher = threading.Thread(target=watch)
    watcher.start()
    t0 = time.perf_counter()
    try:
        bench.explainer.clear_cache()
        bench.explainer.explain(text, n_steps=n_steps, cancel=cancel)
    except Cancelled:
        pass
    seconds = time.perf_counter() - t0
    stop.set()
    watcher.join()
    per_point = point_bytes(bench, text)
    return {
        "extra_bytes": float(peak[0] - base),
        "budget_bytes": float(bench.explainer.memory_budget),
        "point_bytes": float(per_point),
        "chunks_run": float(min(seen[0], chunks)),
        "seconds": seconds,
    }


def point_bytes(bench: Bench, text: str) -> int:
    """The bytes the engine measures for one point of ``text`` (what sizes its chunks)."""
    from ig_widgets.engine.core import PathEvaluator

    adapter = bench.explainer.adapter
    ids = torch.tensor(adapter.tokenize(text).ids)
    with adapter.prepared():
        inputs = adapter.embed(ids[None])[0].detach()
        evaluator = PathEvaluator(adapter, inputs, torch.zeros_like(inputs), ids)
        evaluator.evaluate([0.5])
    assert evaluator.bytes_per_point is not None
    return evaluator.bytes_per_point


def memory_in_child(
    n_tokens: int, n_steps: int, chunks: int, *, tiny: bool = False
) -> dict[str, float]:
    """:func:`peak_extra_memory` in a fresh Python process."""
    cmd = [sys.executable, "-m", "benchmarks.bert_base", "--memory-child"]
    cmd += [str(n_tokens), str(n_steps), str(chunks)] + (["--tiny"] if tiny else [])
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    figures: dict[str, float] = json.loads(res.stdout.strip().splitlines()[-1])
    return figures


def table(figures: dict[str, float], tokens: tuple[int, ...], quick: bool) -> list[str]:
    """The Markdown rows: measure, figure, target, met."""
    rows: list[tuple[str, float, float | None, str]] = []
    for n in tokens:
        low, high = figures[f"engine_over_floor_{n}_low"], figures[f"engine_over_floor_{n}_high"]
        steps, check = figures[f"steps_{n}"], figures[f"check_forward_{n}_s"]
        rows.append(
            (
                f"engine / floor, {n} tokens × {steps:.0f} steps (pairs {low:.2f}–{high:.2f})",
                figures[f"engine_over_floor_{n}"],
                1.05,
                f"the check's forward {check:.2f} s = {check / figures[f'floor_{n}_s']:.1%} "
                "of the floor",
            )
        )
    rows.append(("all classes / Captum per class", figures["engine_over_captum"], None, ""))
    rows.append(
        (
            "Explorer's first result / Captum's full run",
            figures["first_over_captum"],
            0.2,
            f"{figures['first_stage_points']:.0f} points first",
        )
    )
    if "extra_bytes" in figures:
        mb = figures["extra_bytes"] / 2**20
        budget = figures["budget_bytes"] / 2**20
        point = figures["point_bytes"] / 2**20
        rows.append(
            (
                "peak extra memory / the engine's budget",
                mb / budget,
                1.0,
                f"{mb:,.0f} MB vs {budget:,.0f} MB; one point holds {point:,.0f} MB",
            )
        )
    lines = ["| measure | ratio | target | met | note |", "|---|---|---|---|---|"]
    for name, ratio, target, note in rows:
        met = "—" if target is None else ("yes" if ratio <= target else "NO")
        shown = "—" if target is None else f"≤ {target:g}"
        lines.append(f"| {name} | {ratio:.3f} | {shown} | {met} | {note} |")
    if quick:
        lines.append("")
        lines.append("(--quick: fewer steps and pairs; a smoke run, not the figures)")
    return lines


#: steps and pairs of each measure. The floor runs its points as one batch: 50 points of 128
#: tokens hold 3.7 GB, 16 of 512 tokens 4.7 GB. A new text costs the engine one fixed
#: forward (the check of F at the input), about half of one point's forward and backward, so
#: few steps measure that forward rather than the engine: at 4 steps of 512 tokens it was
#: the whole of a 1.12 ratio. ``quick`` is a smoke run of the same code.
PLANS: dict[str, dict[str, Any]] = {
    "full": {
        "floor": {128: (50, 2), 512: (16, 1)},  # tokens: (steps, pairs)
        "captum_steps": 8,
        "first_steps": 64,
        "memory": (512, 50, 3),  # tokens, steps, chunks run
    },
    "quick": {
        "floor": {128: (4, 1)},
        "captum_steps": 4,
        "first_steps": 32,
        "memory": (128, 50, 2),
    },
}


def run(bench: Bench, plan: dict[str, Any], memory: bool, tiny: bool) -> dict[str, float]:
    """Every measure of ``plan`` (see :data:`PLANS`) on ``bench``."""
    figures: dict[str, float] = {}
    for n, (steps, pairs) in plan["floor"].items():
        figures.update(engine_over_floor(bench, n, steps, pairs))
    n = min(plan["floor"])  # Captum and the Explorer at the shortest length
    figures.update(engine_over_captum(bench, n, plan["captum_steps"], 1))
    figures.update(first_over_captum(bench, n, plan["first_steps"], 16))
    if memory:
        figures.update(memory_in_child(*plan["memory"], tiny=tiny))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="128 tokens, few steps (smoke run)")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model (tests)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", nargs=3, type=int, metavar=("TOKENS", "STEPS", "CHUNKS"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.memory_child:
        tokens, steps, chunks = args.memory_child
        print(json.dumps(peak_extra_memory(Bench.build(args.tiny), tokens, steps, chunks)))
        return
    t0 = time.perf_counter()
    plan = PLANS["quick" if args.quick else "full"]
    figures = run(Bench.build(args.tiny), plan, not args.skip_memory, args.tiny)
    figures["total_s"] = time.perf_counter() - t0
    cmd = " ".join([".venv/bin/python -m benchmarks.bert_base", *sys.argv[1:]])
    print(
        f"`{cmd}`: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {figures['total_s']:.0f} s in all"
    )
    print()
    print("\n".join(table(figures, tuple(plan["floor"]), args.quick)))
    print()
    print("raw figures:", json.dumps({k: round(v, 4) for k, v in figures.items()}))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
