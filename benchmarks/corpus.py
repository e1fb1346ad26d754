"""Corpus runs: explain_many against Captum (P7), Ray against local (P10), flat memory.

Run: ``.venv/bin/python benchmarks/corpus.py [--quick] [--json out.json] [--only p7,p10,memory]``.
Needs ``../shared/data`` beside the project (imdb_sample.csv, rt-polarity.*). Each figure is
taken once; on a shared machine expect 10-20 % jitter and rerun on a quiet one.

- P7: the 200 imdb_sample validation reviews, ``explain_many(n_steps="auto")`` over Captum's
  ``LayerIntegratedGradients`` called per class at 50 steps in a loop. The reviews go in
  chunks; each chunk is timed on both sides back to back, the order alternating, so the
  machine's drift falls on both sides alike. Target ≤ 0.2. Beside it, in the same run and
  the same alternating pairs (chunks of the two sets interleaved), a held-out set the engine
  was not tuned on: 100 imdb_sample *training* reviews (``--held-out N``), drawn with
  ``numpy.random.default_rng(20)`` (:func:`imdb_held_out`).
- P10: rt-polarity sentences (32 Gauss-Legendre steps), texts per second of the Ray backend
  (2 actors of one torch thread, 0.5 CPU each, local Ray started by the run) over the local
  backend with 2 torch threads. Reported end to end (Ray's start and the actors' model loading
  included) and in steady state (from the first finished batch). Target ≥ 1.4. Beside it the
  ceiling any two one-thread processes have: twice the local backend's rate on one thread
  over its rate on two.
- Memory: peak resident memory of ``explain_many(out=...)`` over 5,000 sentences over that
  over 500 (8 steps), each in its own process: the peak above the process's memory before the
  run, and the whole process's peak. Target ≤ 1.1. The 5,000 are the 500 ten times over (each
  with its own id): a peak follows the longest text, and 5,000 fresh sentences hold longer
  ones than 500, which would measure the length of the longest text, not the number of texts.

Held-out sets (``--held-out``, 0 for none), in the same run: P7 beside 100 imdb training reviews
(above); P10 and the memory figure beside the *last* 1,500 / 500 sentences of the same shuffled
order (:func:`benchmarks.texts.held_out_sentences`), which no earlier run of either looked at.

``--batching`` measures one forward+backward over several equal-length sentences' 32 points
against one sentence at a time: no gain at that size, so explain_many shares batches between
texts only for small rounds of points (the adaptive rule's, in lockstep).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.run import Setup  # noqa: E402
from benchmarks.texts import held_out_sentences, imdb_held_out, imdb_valid, sentences  # noqa: E402
from ig_widgets.engine.corpus_ray import BATCH_SIZE  # noqa: E402


def p7(s: Setup, sets: dict[str, list[str]], chunk: int) -> dict[str, float]:
    """P7 on each set of reviews, their chunks interleaved so drift falls on every set alike.

    ``sets`` maps a figure prefix (``"p7"``, ``"p7_heldout"``) to its reviews. Each chunk is
    timed on both sides back to back, the order alternating within each set.
    """
    from ig_widgets.engine.corpus import explain_many

    n_classes = len(s.explainer.classes)

    def ours(texts: list[str]) -> float:
        s.explainer.clear_cache()
        t0 = time.perf_counter()
        explain_many(s.explainer, texts, n_steps="auto", progress=False)
        return time.perf_counter() - t0

    def captum(texts: list[str]) -> float:
        t0 = time.perf_counter()
        for text in texts:
            for c in range(n_classes):
                s.captum(text, 50, c)
        return time.perf_counter() - t0

    first = next(iter(sets.values()))
    ours(first[:2]), captum(first[:2])  # warm-up
    spent = {name: [0.0, 0.0] for name in sets}  # ours, Captum
    longest = max(len(reviews) for reviews in sets.values())
    for k, start in enumerate(range(0, longest, chunk)):
        for name, reviews in sets.items():
            part = reviews[start : start + chunk]
            if not part:
                continue
            if k % 2 == 0:
                spent[name][0] += ours(part)
                spent[name][1] += captum(part)
            else:
                spent[name][1] += captum(part)
                spent[name][0] += ours(part)
            a, b = spent[name]
            done = start + len(part)
            print(f"  {name} {done}/{len(reviews)}: ratio so far {a / b:.3f}", flush=True)
    figures: dict[str, float] = {}
    for name, (a, b) in spent.items():
        figures.update(
            {
                f"{name}_reviews": len(sets[name]),
                f"{name}_ours_s": a,
                f"{name}_captum_s": b,
                f"{name}_ratio": a / b,
            }
        )
    return figures


def p10(texts: list[str], name: str = "p10") -> dict[str, float]:
    """P10's figures on ``texts``, each key prefixed ``name`` (``p10``, ``p10_heldout``)."""
    import ig_widgets as igw
    from ig_widgets.engine.corpus import explain_many

    stamps: list[float] = []

    def clock(done: int, total: int) -> None:
        stamps.append(time.perf_counter())

    explainer = igw.Explainer(igw.load_demo_model())
    explain_many(explainer, texts[:20], n_steps=32, progress=False)  # warm-up
    local_by_threads = {}
    for threads in (1, 2):  # one thread: what each Ray actor has
        torch.set_num_threads(threads)
        explainer.clear_cache()
        t0 = time.perf_counter()
        explain_many(explainer, texts, n_steps=32, progress=False)
        local_by_threads[threads] = len(texts) / (time.perf_counter() - t0)
    local = local_by_threads[2]

    t0 = time.perf_counter()
    explain_many(
        explainer, texts, n_steps=32, backend="ray", num_actors=2, actor_cpus=0.5,
        threads_per_actor=1, num_cpus=2, progress=clock,
        model_factory=functools.partial(igw.load_demo_model, "awd_lstm"),
    )  # fmt: skip
    end = time.perf_counter()
    ray_total = len(texts) / (end - t0)
    first_batch = BATCH_SIZE  # the texts of the first Ray batch, counted at its stamp
    steady = (len(texts) - first_batch) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    figures = {
        "texts": len(texts),
        "local_texts_per_s": local,
        "local_1_thread_texts_per_s": local_by_threads[1],
        # two processes of one thread each can at best double one thread's rate
        "ceiling": 2 * local_by_threads[1] / local,
        "ray_texts_per_s": ray_total,
        "ray_steady_texts_per_s": steady,
        "ray_start_s": stamps[0] - t0 if stamps else float("nan"),
        "ratio": ray_total / local,
        "ratio_steady": steady / local,
    }
    return {f"{name}_{k}": v for k, v in figures.items()}


_MEMORY_CHILD = """
import json, sys, tempfile, threading, time
from pathlib import Path
import torch
sys.path.insert(0, {root!r})
from benchmarks.texts import sentences, held_out_sentences
import ig_widgets as igw
from ig_widgets.engine.corpus import explain_many
torch.set_num_threads(1)
texts = ({source} * ({n} // {small} + 1))[: {n}]  # the same texts, repeated
explainer = igw.Explainer(igw.load_demo_model())
folder = Path(tempfile.mkdtemp())
explain_many(explainer, texts[:50], n_steps=8, out=folder / "warm.parquet", progress=False)
explainer.clear_cache()
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
base = rss(); peak = [base]; stop = []
def watch():
    while not stop:
        peak[0] = max(peak[0], rss()); time.sleep(0.005)
t = threading.Thread(target=watch); t.start()
t0 = time.perf_counter()
corpus = explain_many(explainer, texts, n_steps=8, out=folder / "run.parquet", progress=False)
seconds = time.perf_counter() - t0
stop.append(1); t.join()
with open('/proc/self/status') as f:
    hwm = next(int(l.split()[1]) * 1024 for l in f if l.startswith('VmHWM'))
print(json.dumps({{'extra': peak[0] - base, 'process_peak': hwm, 'seconds': seconds,
                   'rows': len(corpus)}}))
"""


def memory(small: int, large: int, held_out: bool = False) -> dict[str, float]:
    """Peak memory over ``large`` texts / over ``small``: the first ``small`` sentences, or
    (``held_out``) the last ones, repeated; keys ``memory_*`` or ``memory_heldout_*``."""
    source = f"held_out_sentences({small})" if held_out else f"sentences()[:{small}]"
    out: dict[str, float] = {}
    for n in (small, large):
        code = _MEMORY_CHILD.format(root=str(ROOT), n=n, small=small, source=source)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        data = json.loads(res.stdout.strip().splitlines()[-1])
        assert data["rows"] == n
        out[f"memory_{n}_extra_mb"] = data["extra"] / 2**20
        out[f"memory_{n}_process_peak_mb"] = data["process_peak"] / 2**20
        out[f"memory_{n}_s"] = data["seconds"]
        print(f"  memory {n} texts: {json.dumps(data)}", flush=True)
    out["memory_extra_ratio"] = out[f"memory_{large}_extra_mb"] / out[f"memory_{small}_extra_mb"]
    out["memory_process_ratio"] = (
        out[f"memory_{large}_process_peak_mb"] / out[f"memory_{small}_process_peak_mb"]
    )
    return {
        k.replace("memory_", "memory_heldout_", 1) if held_out else k: v for k, v in out.items()
    }


def batching(texts: list[str], repeat: int = 5) -> dict[str, float]:
    """ms per text: each sentence's 32 points alone, or 8 equal-length sentences in one batch."""
    import ig_widgets as igw

    torch.set_num_threads(1)
    explainer = igw.Explainer(igw.load_demo_model())
    adapter = explainer.adapter
    by_length: dict[int, list[Any]] = {}
    for text in texts[:3000]:
        tok = explainer.tokenize(text)
        by_length.setdefault(len(tok), []).append(tok)
    group = max(by_length.values(), key=len)[:8]

    def gradients(toks: list[Any]) -> None:
        with adapter.prepared():
            alphas = torch.linspace(0, 1, 32).view(-1, 1, 1)
            points = torch.cat(
                [alphas * adapter.embed(torch.tensor([t.ids])).detach() for t in toks]
            ).requires_grad_(True)
            out = adapter.forward_embeds(points, torch.tensor(toks[0].ids))
            torch.autograd.grad(out[:, 1].sum(), points)

    figures = {}
    for size in (1, 8):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            for i in range(0, len(group), size):
                gradients(group[i : i + size])
            times.append((time.perf_counter() - t0) / len(group) * 1000)
        figures[f"batching_{size}_ms_per_text"] = float(np.median(times))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", default="p7,p10,memory,batching")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--held-out",
        type=int,
        default=100,
        help="training reviews timed beside P7; 0: no held-out sets at all (P10, memory too)",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    figures: dict[str, float] = {}
    texts = sentences()
    if "batching" in only:
        figures.update(batching(texts))
    if "p7" in only:
        torch.set_num_threads(2)
        reviews = imdb_valid()[: 10 if args.quick else 200]
        held_out = imdb_held_out(min(args.held_out, 10) if args.quick else args.held_out)
        sets = {"p7": reviews, "p7_heldout": held_out} if held_out else {"p7": reviews}
        figures.update(p7(Setup(), sets, chunk=5 if args.quick else 20))
    if "p10" in only:
        n = 100 if args.quick else 1500
        figures.update(p10(texts[:n]))
        if args.held_out:
            figures.update(p10(held_out_sentences(n), "p10_heldout"))
    if "memory" in only:
        sizes = (50, 500) if args.quick else (500, 5000)
        figures.update(memory(*sizes))
        if args.held_out:
            figures.update(memory(*sizes, held_out=True))
    rows = [
        ("P7 explain_many auto / Captum per class 50 steps (imdb)", figures.get("p7_ratio"), 0.2,
         "<="),
        ("    the same on held-out imdb training reviews", figures.get("p7_heldout_ratio"), 0.2,
         "<="),
        ("P10 Ray 2x1 thread / local 2 threads, end to end", figures.get("p10_ratio"), 1.4, ">="),
        ("    the same in steady state", figures.get("p10_ratio_steady"), None, ""),
        ("    ceiling: 2 x local 1 thread / local 2 threads", figures.get("p10_ceiling"), None, ""),
        ("    P10 on the last 1,500 sentences (held out)", figures.get("p10_heldout_ratio"), 1.4,
         ">="),
        ("    the same in steady state", figures.get("p10_heldout_ratio_steady"), None, ""),
        ("Memory: peak extra, 5,000 / 500 texts", figures.get("memory_extra_ratio"), 1.1, "<="),
        ("    whole-process peak, 5,000 / 500", figures.get("memory_process_ratio"), None, ""),
        ("    peak extra on the last 500 sentences (held out)",
         figures.get("memory_heldout_extra_ratio"), 1.1, "<="),
        ("    whole-process peak, held out", figures.get("memory_heldout_process_ratio"), None,
         ""),
    ]  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}")
    for name, value, target, how in rows:
        if value is None:
            continue
        if target is None:
            print(f"{name:58} {value:7.3f}")
            continue
        ok = value <= target if how == "<=" else value >= target
        print(f"{name:58} {value:7.3f} {how} {target:<5} {'yes' if ok else 'NO'}")
    print("raw figures:", json.dumps({k: round(v, 4) for k, v in figures.items()}))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
