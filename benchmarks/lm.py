"""Issue 18's G1-G5 and long-prompt memory: a GPT-2-small-size causal LM, engine against Captum.

Run: ``.venv/bin/python -m benchmarks.lm [--only g1,g2,...] [--tokens 64] [--pairs 3]
[--steps 4] [--threads 2] [--json f]`` from the project root (``IGW_SHARED_DATA`` or
``../shared/data`` for the texts). The model is ``GPT2LMHeadModel(GPT2Config())`` (124 M
parameters, vocabulary 50,257, random weights: timing only, nothing downloaded); the prompt is
imdb_sample reviews cut to exactly ``--tokens`` tokens of the demo LM's tokenizer (its 8 k ids
are valid ids of the bigger vocabulary). Every time ratio is the median over back-to-back pairs
in alternating order (AB, BA, ...), with the lowest and highest pair, the same points and
baseline on both sides; the load average is printed with each figure.

- **g1** engine, exactly one target token (``target=[token]``) / the forward+backward floor
  (one forward and one backward of the model over the same points, the LM head on the last
  position only): ≤ 1.05. **g1top**: the same with ``target=token``, which also explains the
  top 5 (what a user who names one token gets today).
- **g2** the top 5 candidates in one ``explain`` / five Captum ``LayerIntegratedGradients``
  runs, one per candidate: ≤ 0.8 (the floor is about (1 + 2k)/(3k) = 0.73).
- **g3** a 16-token continuation (``output="logprob"``) / Captum's ``LLMGradientAttribution``
  over ``LayerIntegratedGradients``: ≤ 0.5.
- **g4** the Explorer's first result (the first stage of ``Explainer.refine`` at the Explorer's
  default 50 Gauss-Legendre steps, top 5 as a bare LM's Explorer asks; beside it the same with
  one target) / Captum's 50-step run for one token: ≤ 0.2.
- **g5** points ``n_steps="auto"`` evaluates for 1 % completeness (all stages) / 50, on this
  model (one target) and on the trained demo LM ``gpt_lm`` (top 5) over rt-polarity
  sentences: ≤ 0.6. Not a time: no pairs.
- **memory** peak extra resident memory of one ``explain`` at 2,000 prompt tokens (the config
  gets ``n_positions=2048``), in a child process as ``benchmarks/run.py``'s P6, beside the
  floor's for one point, against the explainer's ``memory_budget``.
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
from typing import Any

import torch

from benchmarks.run import DATA, ROOT, paired_ratio, reviews, timed

TOP_K, CONTINUATION_TOKENS, EXPLORER_STEPS = 5, 16, 50
GS = ("g1", "g1top", "g2", "g3", "g4", "g5", "memory")


def load() -> str:
    """The load average over the last minute, as ``load 3.1``."""
    return f"load {os.getloadavg()[0]:.1f}"


def tokenizer() -> Any:
    """The demo LM's byte-level BPE (8 k tokens, ``<|endoftext|>`` first, pad ``<pad>``)."""
    import ig_widgets as igw

    tok = igw.load_demo_model("gpt_lm").tokenizer
    tok.model_max_length = 10**6  # the big model sets the length limit, not the demo's 128
    return tok


def gpt2_small(tok: Any, n_positions: int = 1024, tiny: bool = False) -> Any:
    """``GPT2LMHeadModel(GPT2Config())``, random weights, the tokenizer's special ids.

    ``tiny``: 2 layers of width 32 (the smoke test's), the same vocabulary.
    """
    import transformers

    torch.manual_seed(0)
    size = {"n_layer": 2, "n_embd": 32, "n_head": 2} if tiny else {}
    config = transformers.GPT2Config(
        **size,
        n_positions=n_positions,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return transformers.GPT2LMHeadModel(config).eval()


def prefix(tok: Any, text: str, n_tokens: int, rest: int = 0) -> tuple[str, str]:
    """The prefix of ``text`` of at most ``n_tokens`` tokens (the begin token counted), and the
    text of the ``rest`` tokens after it (a continuation target; ``""`` when ``rest`` is 0).
    """
    offsets = tok(text, return_offsets_mapping=True)["offset_mapping"]
    if len(offsets) < n_tokens + rest:
        raise SystemExit(f"the text has fewer than {n_tokens + rest} tokens")
    end = offsets[n_tokens - 1][1]
    return text[:end], text[end : offsets[n_tokens - 1 + rest][1]]


def base_ids(explainer: Any, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt's ids and the engine's default baseline ids (kept tokens kept), ``(n,)``."""
    tokd = explainer.tokenize(text)
    fill = explainer.adapter.token_id(explainer.adapter.default_baseline_token)
    base = [i if keep else fill for i, keep in zip(tokd.ids, tokd.keep, strict=True)]
    return torch.tensor(tokd.ids), torch.tensor(base)


def top_in_vocab(model: Any, tok: Any, ids: torch.Tensor) -> int:
    """The likeliest next token that the tokenizer has (its 8 k of the model's 50 k ids).

    A one-token target must be a token the tokenizer can name; which one is explained does
    not change the cost.
    """
    with torch.no_grad():
        logits = model(input_ids=ids[None], logits_to_keep=1).logits[0, -1, : len(tok)]
    return int(logits.argmax())


def warmed(short: Callable[[], Any], side: Callable[[], float]) -> Callable[[], float]:
    """``side``, but its first call runs ``short`` instead (and says 0 s).

    :func:`benchmarks.run.paired_ratio` warms up with one call of each side; here a side can
    take minutes, so a short run of it (few points) stands in for that warm-up.
    """
    calls = [0]

    def run() -> float:
        calls[0] += 1
        if calls[0] == 1:
            short()
            return 0.0
        return side()

    return run


def pairs_of(
    a: Callable[[], float],
    b: Callable[[], float],
    pairs: int,
    warm_a: Callable[[], Any],
    warm_b: Callable[[], Any],
) -> dict[str, Any]:
    """:func:`benchmarks.run.paired_ratio` of ``a`` against ``b`` after the short warm-ups,
    with the number of pairs and the load average.
    """
    out: dict[str, Any] = paired_ratio(warmed(warm_a, a), warmed(warm_b, b), pairs)
    out.update(pairs=pairs, load=load())
    return out


def captum_lig(model: Any, fwd: Any, ids: torch.Tensor, base: torch.Tensor) -> Any:
    """``run(targets, steps)``: one Captum LayerIG run on the embeddings per target of ``fwd``."""
    from captum.attr import LayerIntegratedGradients

    lig = LayerIntegratedGradients(fwd, model.get_input_embeddings())

    def run(targets: list[int], steps: int) -> None:
        for t in targets:
            lig.attribute(ids[None], baselines=base[None], target=t, n_steps=steps)

    return run


class Bench:
    """The model, the prompt and the engine's explainers on it, at one prompt length."""

    def __init__(self, n_tokens: int, steps: int, tiny: bool = False) -> None:
        import ig_widgets as igw

        self.tok = tokenizer()
        self.model = gpt2_small(self.tok, tiny=tiny)
        self.text, self.rest = prefix(self.tok, " ".join(reviews()), n_tokens, CONTINUATION_TOKENS)
        self.steps = steps
        self.lm = igw.Explainer(self.model, tokenizer=self.tok, top_k=TOP_K)
        self.ids, self.base = base_ids(self.lm, self.text)
        self.n_tokens = len(self.ids)
        self.cands = list(self.lm.explain(self.text, n_steps=1).target_ids)
        self.one = top_in_vocab(self.model, self.tok, self.ids)

    def next_token(self, batch: torch.Tensor) -> torch.Tensor:
        """Captum's forward: next-token probabilities of the candidates, ``(b, k)``."""
        logits = self.model(input_ids=batch, logits_to_keep=1).logits[:, -1]
        return torch.softmax(logits, -1)[:, self.cands]

    def engine(self, explainer: Any, steps: int, **kw: Any) -> Callable[[], float]:
        def run() -> None:
            explainer.clear_cache()
            explainer.explain(self.text, n_steps=steps, **kw)

        return timed(run)

    def floor(self, steps: int) -> Callable[[], float]:
        """One forward and one backward over ``steps`` points, the top candidate's probability."""
        emb = self.model.get_input_embeddings()

        def run() -> None:
            with torch.no_grad():
                x, b = emb(self.ids[None]), emb(self.base[None])
            alphas = torch.linspace(0, 1, steps).view(-1, 1, 1)
            points = (b + alphas * (x - b)).requires_grad_(True)
            logits = self.model(inputs_embeds=points, logits_to_keep=1).logits[:, -1]
            torch.autograd.grad(torch.softmax(logits, -1)[:, self.one].sum(), points)

        return timed(run)

    def g1(self, pairs: int, target: Any = None) -> dict[str, Any]:
        """Exactly one candidate (``target=[token]``), against the floor of that token."""
        one = [self.one] if target is None else target
        return pairs_of(
            self.engine(self.lm, self.steps, target=one), self.floor(self.steps), pairs,
            self.engine(self.lm, 2, target=one), self.floor(2),
        )  # fmt: skip

    def g1top(self, pairs: int) -> dict[str, Any]:
        """``target=token``: the engine explains the top 5 and that token (6 backward passes)."""
        return self.g1(pairs, target=self.one)

    def g2(self, pairs: int) -> dict[str, Any]:
        captum = captum_lig(self.model, self.next_token, self.ids, self.base)
        k = list(range(TOP_K))
        return pairs_of(
            self.engine(self.lm, self.steps), timed(lambda: captum(k, self.steps)), pairs,
            self.engine(self.lm, 2), lambda: captum(k, 2),
        )  # fmt: skip

    def g3(self, pairs: int) -> dict[str, Any]:
        from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

        import ig_widgets as igw

        lig = LayerIntegratedGradients(self.model, self.model.get_input_embeddings())
        llm = LLMGradientAttribution(lig, self.tok)
        pad, bos = self.tok.pad_token, self.tok.bos_token
        inp = TextTokenInput(self.text, self.tok, baselines=pad, skip_tokens=[bos])
        lp = igw.Explainer(self.model, tokenizer=self.tok, output="logprob")
        n_target = len(lp.explain(self.text, target=self.rest, n_steps=1).target_tokens)
        assert n_target >= CONTINUATION_TOKENS, (n_target, self.rest)

        def captum(steps: int) -> Callable[[], float]:
            return timed(lambda: llm.attribute(inp, target=self.rest, n_steps=steps))

        out = pairs_of(
            self.engine(lp, self.steps, target=self.rest), captum(self.steps), pairs,
            self.engine(lp, 1, target=self.rest), captum(1),
        )  # fmt: skip
        out["target_tokens"] = n_target
        return out

    def first_result(self, **kw: Any) -> Callable[[], float]:
        """The first stage of ``refine`` at the Explorer's default steps (its points counted)."""

        def run() -> None:
            self.lm.clear_cache()
            stages = self.lm.refine(self.text, n_steps=EXPLORER_STEPS, **kw)
            self.first_points = next(iter(stages)).n_evaluated

        return timed(run)

    def g4(self, pairs: int) -> dict[str, Any]:
        """Both engine variants (top 5, one target), each in its own pairs with one Captum run."""
        captum = captum_lig(self.model, self.next_token, self.ids, self.base)
        full = timed(lambda: captum([0], EXPLORER_STEPS))
        short = lambda: captum([0], 2)  # noqa: E731
        out = pairs_of(self.first_result(), full, pairs, self.first_result(), short)
        out["first_points"] = self.first_points
        one = self.first_result(target=self.one)
        single = pairs_of(one, full, pairs, self.first_result(target=self.one), short)
        out.update({f"one_{k}": v for k, v in single.items()})
        return out


def g5_points(explainer: Any, texts: list[str]) -> dict[str, Any]:
    """Mean (and largest) points ``n_steps="auto"`` evaluates for 1 % completeness, per text."""
    from ig_widgets.engine.stages import converged

    points, failed = [], 0
    for text in texts:
        explainer.clear_cache()  # every point it rests on is work it did
        exp = explainer.explain(text, n_steps="auto", tol=0.01)
        points.append(exp.n_evaluated)
        failed += not converged(exp, 0.01)
    return {
        "mean_points": statistics.mean(points),
        "max_points": max(points),
        "ratio": statistics.mean(points) / 50,
        "not_converged": failed,
        "texts": len(texts),
        "load": load(),
    }


def g5(bench: Bench, n_big: int, n_demo: int) -> dict[str, Any]:
    """G5 on the 124 M model (reviews' first tokens, top 1) and the demo LM (rt-polarity, top 5)."""
    import ig_widgets as igw
    from benchmarks.faithfulness import datasets

    long = [t for t in reviews() if len(bench.tok(t)["input_ids"]) >= bench.n_tokens]
    big = [prefix(bench.tok, t, bench.n_tokens)[0] for t in long[:n_big]]
    one = igw.Explainer(bench.model, tokenizer=bench.tok, top_k=1)
    model, tok = igw.load_demo_model("gpt_lm")
    demo = igw.Explainer(model, tokenizer=tok, top_k=TOP_K)
    out = {"demo": g5_points(demo, datasets(n_demo, 0)["rt test"])}
    if big:
        out["big"] = g5_points(one, big)
    return out


_MEMORY_CHILD = """
import sys, threading, time, json, torch
sys.path.insert(0, {root!r})
from benchmarks.lm import memory_child
print(json.dumps(memory_child({which!r}, {n_tokens}, {steps}, {threads})))
"""


def memory_child(which: str, n_tokens: int, steps: int, threads: int) -> dict[str, float]:
    """Peak extra RSS of one engine ``explain`` (``which="engine"``) or one floor run.

    The model is loaded and both paths warmed up on a short prompt first; the peak is polled
    from ``/proc/self/statm`` every 2 ms while the run goes (as ``benchmarks/run.py``'s P6).
    """
    import threading

    import ig_widgets as igw

    torch.set_num_threads(threads)
    tok = tokenizer()
    model = gpt2_small(tok, n_positions=max(1024, n_tokens + 48))
    text = prefix(tok, " ".join(reviews()), n_tokens)[0]
    lm = igw.Explainer(model, tokenizer=tok, top_k=1)
    bench = Bench.__new__(Bench)  # the floor's state without the 64-token setup
    bench.model, bench.tok, bench.text = model, tok, text
    bench.ids, bench.base = base_ids(lm, text)
    short = prefix(tok, text, 16)[0]
    lm.explain(short, n_steps=2)
    bench.one = top_in_vocab(model, tok, bench.ids)  # the target of both sides

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    base = rss()
    peak, stop = [base], list[int]()

    def watch() -> None:
        while not stop:
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    t = threading.Thread(target=watch)
    t.start()
    t0 = time.perf_counter()
    if which == "engine":
        lm.explain(text, n_steps=steps, target=[bench.one])
    else:
        bench.floor(1)()
    seconds = time.perf_counter() - t0
    stop.append(1)
    t.join()
    return {
        "extra_mb": (peak[0] - base) / 2**20,
        "seconds": seconds,
        "budget_mb": lm.memory_budget / 2**20,
        "tokens": len(bench.ids),
    }


def memory(n_tokens: int, steps: int, threads: int) -> dict[str, Any]:
    """The engine's and the floor's (one point) peak extra memory, each in a fresh child."""
    out: dict[str, Any] = {}
    for which in ("engine", "floor"):
        code = _MEMORY_CHILD.format(
            root=str(ROOT), which=which, n_tokens=n_tokens, steps=steps, threads=threads
        )
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        if res.returncode != 0:
            raise SystemExit(f"memory child ({which}) failed:\n{res.stderr[-3000:]}")
        out[which] = json.loads(res.stdout.strip().splitlines()[-1])
    out["load"] = load()
    return out


def show(name: str, title: str, pair: dict[str, Any]) -> str:
    return (
        f"{name} {title}: engine {pair['a_s']:.2f} s, other {pair['b_s']:.2f} s, ratio "
        f"{pair['ratio']:.3f} (pairs {pair['low']:.3f}-{pair['high']:.3f}, {pair['pairs']} "
        f"pairs, {pair['load']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="g1,g2,g3,g4,g5,memory", help="comma-separated Gs")
    parser.add_argument("--tokens", type=int, default=64, help="prompt tokens (64 or 512)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="points of g1-g3, both sides")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--g5-texts", type=int, default=20, help="demo LM sentences for g5")
    parser.add_argument("--g5-big", type=int, default=3, help="124 M model prompts for g5")
    parser.add_argument("--memory-tokens", type=int, default=2000)
    parser.add_argument("--memory-steps", type=int, default=2)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    only = [g.strip() for g in args.only.split(",") if g.strip()]
    if unknown := set(only) - set(GS):
        parser.error(f"unknown --only {sorted(unknown)}; use {', '.join(GS)}")
    if not (DATA / "imdb_sample.csv").exists():
        sys.exit(f"needs {DATA / 'imdb_sample.csv'}")
    torch.set_num_threads(args.threads)
    print(f"command: python -m benchmarks.lm {' '.join(sys.argv[1:])}".strip())
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, {args.threads} thread(s), {load()}"
    )
    figures: dict[str, Any] = {}
    bench = Bench(args.tokens, args.steps) if set(only) - {"memory"} else None
    if bench is not None:
        n_params = sum(p.numel() for p in bench.model.parameters()) / 1e6
        print(f"GPT2Config(): {n_params:.1f} M parameters, {bench.n_tokens} prompt tokens")
    titles = {
        "g1": f"target=[token] / forward+backward floor, {args.steps} points (<= 1.05)",
        "g1top": f"target=token (top {TOP_K} + it) / floor, {args.steps} points",
        "g2": f"top {TOP_K} in one call / {TOP_K} Captum LayerIG runs, {args.steps} points "
        "(<= 0.8)",
        "g3": f"{CONTINUATION_TOKENS}-token continuation / LLMGradientAttribution, "
        f"{args.steps} points (<= 0.5)",
        "g4": f"Explorer first result (top {TOP_K}) / Captum {EXPLORER_STEPS} steps (<= 0.2)",
    }
    for g in only:
        t0 = time.perf_counter()
        if g in titles:
            assert bench is not None
            figures[g] = getattr(bench, g)(args.pairs)
            print(show(g.upper(), titles[g], figures[g]), flush=True)
            if g == "g4":
                one = {k[4:]: v for k, v in figures[g].items() if k.startswith("one_")}
                print(f"   first stage {figures[g]['first_points']} points")
                print(show("G4", "the same, one target", one), flush=True)
        elif g == "g5":
            assert bench is not None
            figures[g] = g5(bench, args.g5_big, args.g5_texts)
            for which, res in figures[g].items():
                print(
                    f"G5 {which}: auto mean {res['mean_points']:.1f} points (max "
                    f"{res['max_points']}, {res['not_converged']} not converged) over "
                    f"{res['texts']} texts, / 50 = {res['ratio']:.3f} (<= 0.6, {res['load']})",
                    flush=True,
                )
        else:
            figures[g] = memory(args.memory_tokens, args.memory_steps, args.threads)
            e, f = figures[g]["engine"], figures[g]["floor"]
            print(
                f"MEMORY {e['tokens']} tokens, {args.memory_steps} points: engine peak extra "
                f"{e['extra_mb']:.0f} MB ({e['seconds']:.0f} s), floor (1 point) "
                f"{f['extra_mb']:.0f} MB ({f['seconds']:.0f} s), budget {e['budget_mb']:.0f} "
                f"MB ({figures[g]['load']})",
                flush=True,
            )
        print(f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
