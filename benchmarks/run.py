"""Speed and memory of the engine against Captum and the forward+backward floor, side by side.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/run.py [--quick] [--json out.json]``).
Needs ``../shared/data/imdb_sample.csv`` beside the project. Prints one table of ratios; the
targets are those of the issue tracker. A time ratio is the median over pairs of runs taken
back to back.

Each figure also runs, in the same run, on texts the engine was not tuned on
(:mod:`benchmarks.texts`): P1-P5 on ``--held-out`` imdb training reviews cut to 250 tokens
(the median over them, with the lowest and highest), P8 on 24 of them, P6 on one of 400 tokens.
A row is met when both the benchmark's figure and the held-out median meet its target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.texts import (  # noqa: E402  (after the path above)
    DATA,
    cut,
    imdb_held_out,
    long_review,
    long_reviews,
    reviews,
)

__all__ = ["DATA", "cut", "long_review", "paired_ratio", "reviews", "timed"]


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed(fn: Callable[[], Any]) -> Callable[[], float]:
    """``fn`` as a function that returns the seconds it took."""

    def run() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return run


def paired_ratio(a: Callable[[], float], b: Callable[[], float], pairs: int) -> dict[str, float]:
    """``a`` and ``b`` (each returns the seconds it measured) run side by side ``pairs`` times.

    On a shared 2-core machine the speed drifts by 10-20 % over a minute; timing each of two
    figures in its own block puts that drift into their ratio. Pairs taken back to back, the
    order alternating (AB, BA, AB, ...), see the same machine, so the median of their ratios
    is steadier. Returns the median seconds of each, and the median, lowest and highest ratio.
    """
    a(), b()  # warm-up
    times_a, times_b = [], []
    for i in range(pairs):
        if i % 2 == 0:
            times_a.append(a())
            times_b.append(b())
        else:
            times_b.append(b())
            times_a.append(a())
    ratios = sorted(x / y for x, y in zip(times_a, times_b, strict=True))
    return {
        "a_s": statistics.median(times_a),
        "b_s": statistics.median(times_b),
        "ratio": statistics.median(ratios),
        "low": ratios[0],
        "high": ratios[-1],
    }


class Setup:
    """The demo model, its explainer and a Captum LayerIntegratedGradients on the same layer."""

    def __init__(self) -> None:
        import ig_widgets as igw

        self.learn = igw.load_demo_model()
        self.explainer = igw.Explainer(self.learn)
        self.adapter = self.explainer.adapter

    def captum(self, text: str, n_steps: int, target: int, batch: int | None = None) -> Any:
        from captum.attr import LayerIntegratedGradients

        tok = self.explainer.tokenize(text)
        ids = torch.tensor([tok.ids])
        unk = self.adapter.token_id("xxunk")
        base = torch.tensor([[i if k else unk for i, k in zip(tok.ids, tok.keep, strict=True)]])
        model = self.learn.model
        encoder = model[0]
        old = encoder.bptt, encoder.max_len
        encoder.bptt = encoder.max_len = max(len(tok), 72)
        model.eval()

        def fwd(x: torch.Tensor) -> torch.Tensor:
            model.reset()
            return model(x)[0].softmax(-1)

        try:
            lig = LayerIntegratedGradients(fwd, encoder.module.encoder_dp)
            return lig.attribute(
                ids, base, target=target, n_steps=n_steps, internal_batch_size=batch
            )
        finally:
            encoder.bptt, encoder.max_len = old

    def floor(self, text: str, n_steps: int) -> None:
        """One forward and one backward over the batch of interpolation points."""
        tok = self.explainer.tokenize(text)
        ids = torch.tensor(tok.ids)
        with self.adapter.prepared():
            x = self.adapter.embed(ids.unsqueeze(0)).detach()
            alphas = torch.linspace(0, 1, n_steps).view(-1, 1, 1)
            points = (alphas * x).requires_grad_(True)
            out = self.adapter.forward_embeds(points, ids)
            torch.autograd.grad(out[:, 1].sum(), points)

    def engine(self, text: str, n_steps: int, **kw: Any) -> Any:
        self.explainer.clear_cache()
        return self.explainer.explain(text, n_steps=n_steps, **kw)


def p1_p2(s: Setup, text: str, repeat: int) -> dict[str, float]:
    pair = paired_ratio(
        timed(lambda: s.engine(text, 50)), timed(lambda: s.floor(text, 50)), 5 * repeat
    )  # P1 and P2 sit close to their targets: more pairs
    captum = paired_ratio(
        timed(lambda: s.engine(text, 50)),
        timed(lambda: [s.captum(text, 50, c) for c in range(len(s.explainer.classes))]),
        5 * repeat,
    )
    return {
        "engine_s": pair["a_s"],
        "captum_all_classes_s": captum["b_s"],
        "engine_over_captum": captum["ratio"],
        "floor_s": pair["b_s"],
        "engine_over_floor": pair["ratio"],
        "engine_over_floor_low": pair["low"],
        "engine_over_floor_high": pair["high"],
    }


def p4(s: Setup, text: str, repeat: int) -> dict[str, float]:
    def refine() -> float:
        s.engine(text, 50, method="riemann_right")
        t0 = time.perf_counter()
        s.explainer.explain(text, n_steps=100, method="riemann_right")
        return time.perf_counter() - t0

    pair = paired_ratio(refine, timed(lambda: s.engine(text, 100, method="riemann_right")), repeat)
    return {
        "refine_50_to_100_s": pair["a_s"],
        "fresh_100_s": pair["b_s"],
        "refine_over_fresh": pair["ratio"],
    }


def p5(s: Setup, text: str, repeat: int) -> dict[str, float]:
    recompute = median_time(lambda: s.engine(text, 50), repeat)
    s.engine(text, 50)
    switch = median_time(
        lambda: s.explainer.explain(text, n_steps=50, target="negative").for_class("negative"),
        repeat,
    )
    return {"target_switch_s": switch, "recompute_s": recompute}


def p3(s: Setup, text: str, repeat: int) -> dict[str, float]:
    """Explorer (no browser): a parameter change until the first result is pushed to the view."""
    import threading

    from ig_widgets.widgets.explorer import Explorer

    explorer = Explorer(s.explainer, text=text, n_steps=64, discover_neutral=False)
    explorer.wait()

    def first_result() -> float:
        # forget the computed points, as a change of steps finds none; not the text's
        # tokenisation, which a change of steps keeps (clear_cache() would drop it too)
        s.explainer._paths.clear()
        pushed = threading.Event()

        def seen(_change: Any) -> None:
            pushed.set()

        explorer.observe(seen, "computed_for")
        t0 = time.perf_counter()
        explorer.n_steps = 62 if explorer.n_steps == 64 else 64
        pushed.wait(600)
        seconds = time.perf_counter() - t0
        explorer.unobserve(seen, "computed_for")
        explorer.wait()  # the rest of the refinement is not timed
        return seconds

    pair = paired_ratio(first_result, timed(lambda: s.captum(text, 64, 1)), 3 * repeat)
    explorer.close()
    return {
        "explorer_first_result_s": pair["a_s"],
        "captum_64_steps_s": pair["b_s"],
        "explorer_over_captum": pair["ratio"],
    }


def p8(s: Setup, texts: list[str], n_reviews: int) -> dict[str, float]:
    """Points evaluated by n_steps="auto" (all stages counted) for 1 % completeness.

    For the default (adaptive) rule and, beside it, Gauss-Legendre's ladder; with each one's
    largest attribution error against a 256-point Gauss-Legendre reference, as a share of the
    largest attribution (the check bounds only the sum of the attributions).
    """
    points: dict[str, list[int]] = {"adaptive": [], "gausslegendre": []}
    errors: dict[str, list[float]] = {"adaptive": [], "gausslegendre": []}
    for text in texts[:n_reviews]:
        text = cut(s.explainer, text, 250)
        ref = s.engine(text, 256)
        c = ref.predicted
        for method in points:
            s.explainer.clear_cache()  # so the points it rests on are also the work it did
            exp = s.explainer.explain(text, n_steps="auto", method=method, tol=0.01)
            assert exp.n_evaluated is not None and exp.n_computed == exp.n_evaluated
            points[method].append(exp.n_evaluated)
            gap = np.abs(exp.scores[c] - ref.scores[c]).max()
            errors[method].append(float(gap / np.abs(ref.scores[c]).max()))
            if exp.n_steps >= 512:
                print(f"  auto ({method}) hit the cap on a review ({exp.n_steps} steps)")
    return {
        "auto_mean_points": statistics.mean(points["adaptive"]),
        "auto_max_points": max(points["adaptive"]),
        "auto_mean_error": statistics.mean(errors["adaptive"]),
        "auto_gl_mean_points": statistics.mean(points["gausslegendre"]),
        "auto_gl_max_points": max(points["gausslegendre"]),
        "auto_gl_mean_error": statistics.mean(errors["gausslegendre"]),
    }


_MEMORY_CHILD = """
import sys, threading, time, json, torch
sys.path.insert(0, {root!r})
from benchmarks.run import Setup, reviews, long_review
{prelude}
torch.set_num_threads(2)
s = Setup()
text = long_review(s.explainer, {texts}, 400)
s.engine(text, 4); s.captum(text, 4, 1)
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
base = rss(); peak = [base]; stop = []
def watch():
    while not stop:
        peak[0] = max(peak[0], rss()); time.sleep(0.002)
t = threading.Thread(target=watch); t.start()
t0 = time.perf_counter()
if {which!r} == 'engine':
    s.engine(text, 200)
else:
    s.captum(text, 200, 1)
elapsed = time.perf_counter() - t0
stop.append(1); t.join()
print(json.dumps({{'extra_bytes': peak[0] - base, 'seconds': elapsed}}))
"""


def memory_child(root: str, which: str, texts: str = "reviews()") -> str:
    """The code of one P6 child: ``which`` (engine or captum) on ``texts``' first 400 tokens.

    ``texts`` is an expression the child evaluates (``imdb_held_out(…)`` is imported for it);
    ``root`` goes first on the child's path.
    """
    prelude = "from benchmarks.texts import imdb_held_out" if "imdb_held_out" in texts else ""
    return _MEMORY_CHILD.format(root=root, which=which, texts=texts, prelude=prelude)


def p6(pairs: int, texts: str = "reviews()") -> dict[str, float]:
    """Peak extra memory and time, engine (chunked) and Captum (one batch), each in a child.

    The text is the first of ``texts`` with 400 tokens (see :func:`memory_child`;
    ``"imdb_held_out(200)"`` for the held-out figure). ``pairs`` pairs of children, the order
    alternating (engine first, then Captum first, …): a single pair read 1.08 one day and 1.16
    another. Memory is each side's median peak; the
    time ratio is the median of the pairs' ratios.
    """
    runs: dict[str, list[dict[str, float]]] = {"engine": [], "captum": []}
    for i in range(pairs):
        order = ("engine", "captum") if i % 2 == 0 else ("captum", "engine")
        for which in order:
            code = memory_child(str(ROOT), which, texts)
            res = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            )
            runs[which].append(json.loads(res.stdout.strip().splitlines()[-1]))
    out = {}
    for which, seen in runs.items():
        out[f"{which}_extra_mb"] = statistics.median(r["extra_bytes"] for r in seen) / 2**20
        out[f"memory_run_{which}_s"] = statistics.median(r["seconds"] for r in seen)
    pairs_run = zip(runs["engine"], runs["captum"], strict=True)
    ratios = [e["seconds"] / c["seconds"] for e, c in pairs_run]
    out["memory_run_ratio"] = statistics.median(ratios)
    out["memory_run_ratio_low"], out["memory_run_ratio_high"] = min(ratios), max(ratios)
    return out


def single_text(s: Setup, text: str, repeat: int) -> dict[str, float]:
    """P1-P5 on one text (the figures of :func:`p1_p2`, :func:`p3`, :func:`p4`, :func:`p5`)."""
    figures: dict[str, float] = {}
    for measure in (p1_p2, p3, p4, p5):
        figures.update(measure(s, text, repeat))
    return figures


#: (row, figure → ratio, target); ``None`` target: shown for comparison only
ROWS: list[tuple[str, Callable[[dict[str, float]], float], float | None]] = [
    ("P1 all classes / Captum per class (250 tok, 50 steps)",
     lambda f: f["engine_over_captum"], 0.5),
    ("P2 engine one target / forward+backward floor", lambda f: f["engine_over_floor"], 1.05),
    ("   P2 lowest of the pairs", lambda f: f["engine_over_floor_low"], None),
    ("   P2 highest of the pairs", lambda f: f["engine_over_floor_high"], None),
    ("P3 Explorer change → first pushed result / Captum 64 steps",
     lambda f: f["explorer_over_captum"], 0.2),
    ("P4 refine 50→100 / fresh 100 (riemann_right)", lambda f: f["refine_over_fresh"], 0.55),
    ("P5 target switch / recompute", lambda f: f["target_switch_s"] / f["recompute_s"], 0.02),
    ("P8 auto mean points for 1 % completeness / 50", lambda f: f["auto_mean_points"] / 50, 0.6),
    ("   beside it: auto with gausslegendre / 50", lambda f: f["auto_gl_mean_points"] / 50, None),
    ("   auto's attribution error / largest (256-pt ref)", lambda f: f["auto_mean_error"], None),
    ("   the same, method=gausslegendre", lambda f: f["auto_gl_mean_error"], None),
    ("P6 peak extra memory 400×200 / Captum one batch",
     lambda f: f["engine_extra_mb"] / f["captum_extra_mb"], 0.25),
    ("P6 time at that memory / Captum one batch", lambda f: f["memory_run_ratio"], 1.1),
]  # fmt: skip


def table(own: dict[str, float], held: list[dict[str, float]]) -> list[str]:
    """The rows: each ratio on the benchmark's text(s), and beside it on the held-out ones.

    A held-out cell is the median over the held-out texts with its lowest and highest (P8 and
    P6 have one held-out figure each: a set of 24 reviews, one 400-token review).
    """
    lines = [f"{'measure':58} {'own':>7} {'held-out (range)':>22} {'target':>7}  ok"]
    for name, ratio, target in ROWS:
        try:
            mine = ratio(own)
        except KeyError:  # a figure left out (--skip-memory)
            continue
        seen = sorted(ratio(f) for f in held if _has(ratio, f))
        if seen:
            mid = statistics.median(seen)
            spread = f" ({seen[0]:.3f}–{seen[-1]:.3f})" if len(seen) > 1 else ""
            cell = f"{mid:.3f}{spread}"
        else:
            mid, cell = float("nan"), "—"
        if target is None:
            lines.append(f"{name:58} {mine:7.3f} {cell:>22} {'—':>7}")
        else:
            ok = "yes" if mine <= target and (not seen or mid <= target) else "NO"
            lines.append(f"{name:58} {mine:7.3f} {cell:>22} {target:7.2f}  {ok}")
    return lines


def _has(ratio: Callable[[dict[str, float]], float], figures: dict[str, float]) -> bool:
    try:
        ratio(figures)
    except KeyError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--held-out", type=int, default=3, help="held-out reviews for P1-P5 (0: none)"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    repeat = 1 if args.quick else 3
    s = Setup()
    texts = reviews()
    figures = single_text(s, long_review(s.explainer, texts, 250), repeat)
    # reviews 12-35: never looked at while choosing the Gauss-Legendre ladder (on 0-11) or the
    # adaptive rule's split share and stopping rule (on 36-65)
    n_p8 = 4 if args.quick else 24
    figures.update(p8(s, texts[12:], n_p8))
    if not args.skip_memory:
        figures.update(p6(repeat))
    held: list[dict[str, float]] = []
    if args.held_out:
        pool = imdb_held_out(200)
        for text in long_reviews(s.explainer, pool, 250, args.held_out):
            held.append(single_text(s, text, repeat))
        held.append(p8(s, pool, n_p8))
        if not args.skip_memory:
            held.append(p6(repeat, "imdb_held_out(200)"))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; held-out: {args.held_out} imdb training reviews "
        f"cut to 250 tokens (P1-P5), {n_p8} for P8, one of 400 tokens for P6"
    )
    print("\n".join(table(figures, held)))
    print("raw figures:", json.dumps({k: round(v, 4) for k, v in figures.items()}))
    for i, f in enumerate(held):
        print(f"held-out {i}:", json.dumps({k: round(v, 4) for k, v in f.items()}))
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "held_out": held}, indent=2))


if __name__ == "__main__":
    main()
