"""Write the lesson notebooks 01–04 from the cell sources kept in this file (outputs stripped).

Usage::

    .venv/bin/python scripts/make_notebooks.py           # (re)write notebooks/0[1-4]_*.ipynb
    .venv/bin/python scripts/make_notebooks.py --check   # exit 1 if a stored notebook differs

The notebooks are generated so that their text lives in reviewable Python, their cell ids are
stable (no churn in git) and they are stored without outputs. Edit the lessons here and run the
script; ``tests/test_notebooks.py`` checks that the stored notebooks match this file.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

Cell = tuple[str, str]  # ("markdown" | "code", source)


def md(text: str) -> Cell:
    """A markdown cell (the text is dedented and stripped)."""
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text: str) -> Cell:
    """A code cell (the source is dedented and stripped)."""
    return ("code", textwrap.dedent(text).strip("\n"))


# ---------------------------------------------------------------------------------------------
# 01 — quickstart
# ---------------------------------------------------------------------------------------------

QUICKSTART: list[Cell] = [
    md("""
    # 01 · Quickstart: from a review to an explanation

    A sentiment classifier reads a review and answers *positive* or *negative*. This notebook
    asks it **which words made it say so**, using *Integrated Gradients* (IG), and shows every
    way `ig_widgets` has of displaying the answer: numbers, a table, coloured chips, a bar chart,
    a static HTML report, and finally the live **Explorer**.

    IG in four sentences. Pick a *baseline*: an input that carries no sentiment (here the review
    with every word replaced by the unknown-word token `xxunk`). Walk in a straight line, in
    embedding space, from the baseline to the real review. Add up, for every token, how much the
    model's output changes along the way because of that token. The shares add up exactly to
    *output on the review − output on the baseline*; this **completeness** property is what
    lets the numbers be checked, and we check it below.

    Everything runs offline on the CPU: the model ships inside the package.
    """),
    md("""
    ## 1. The demo model

    `igw.load_demo_model()` rebuilds a fastai AWD-LSTM text classifier from weights stored in
    the package (no download, no pickle). It is an ordinary fastai `Learner`, so `predict`
    works as usual. It was trained from scratch on short movie-review sentences: small, quick,
    and far from perfect, which makes it a good object to question.
    """),
    code("""
    import ig_widgets as igw

    learn = igw.load_demo_model()
    with learn.no_bar():  # fastai's progress bar is noise for a single text
        label, index, probs = learn.predict("a gorgeous, moving film")
    print(label, probs.numpy().round(3), "classes:", list(learn.dls.vocab[1]))
    """),
    md("""
    ## 2. An `Explanation`

    An `Explainer` wraps the model once (it finds the embedding layer, switches the model to
    evaluation mode only while it computes, and caches gradients). `explain` returns a frozen
    `Explanation` holding the attributions of **every** class, computed in one pass.
    """),
    code("""
    REVIEW = (
        "A warm, funny film with a wonderful cast. The plot is thin and the ending drags, "
        "but I smiled all the way through."
    )

    explainer = igw.Explainer(learn)
    exp = explainer.explain(REVIEW, n_steps=64)
    print(explainer)
    print(exp.summary())
    """),
    md("""
    The model does not read words but **tokens**. fastai lower-cases the text and inserts
    markers: `xxbos` starts every text, `xxmaj` says "the next word was capitalised", `xxup`
    "it was in capitals", `xxrep n` "the next character repeats n times". Words the vocabulary
    does not know become `xxunk`.

    `exp.scores` has one row per class and one column per token. These are **raw**
    attributions: nothing is normalised, so they keep their unit (a change of probability).
    """),
    code("""
    print("classes:     ", exp.classes)
    print("probabilities", exp.probs.round(4), "→ predicted:", exp.predicted_class)
    print("tokens:      ", " ".join(exp.tokens))
    print("scores shape:", exp.scores.shape, "(n_classes, n_tokens)")
    """),
    md("""
    Tokens are folded back into the words of your text (markers join the word they mark), each
    word with its character span, so that results can be shown on the text you typed.
    `to_dataframe` gives one row per word (or per token with `level="token"`) and one column per
    class.
    """),
    code("""
    words = exp.to_dataframe(level="word")
    words.round(4)
    """),
    md("""
    ## 3. The completeness check, and what it tells you

    For the explained class *c*, completeness says

    > Σ attributions = F(input) − F(baseline)

    where F is the model's probability for *c*. The integral is computed with a finite number
    of points (`n_steps`), so the two sides differ by a small **delta**. A small delta means
    the attributions account for the whole change of the prediction; a large one means they
    do not (yet), and you should use more steps before trusting them.
    """),
    code("""
    c = exp.predicted
    total = exp.scores[c].sum()
    difference = exp.f_input[c] - exp.f_baseline[c]
    print(f"F(baseline) = {exp.f_baseline[c]:.4f}   ({exp.baseline}, i.e. xxbos xxunk xxunk …)")
    print(f"F(input)    = {exp.f_input[c]:.4f}")
    print(f"Σ attributions          {total:+.5f}")
    print(f"F(input) − F(baseline)  {difference:+.5f}")
    print(f"delta                   {total - difference:+.2e}   (stored as exp.delta[c])")
    assert abs((total - difference) - exp.delta[c]) < 1e-12
    """),
    md("""
    How many steps are enough? Watch the delta as the step count grows (all of these share the
    same path and baseline, so the explainer's cache makes the table cheap). The default rule,
    Gauss-Legendre, is very accurate with few points when the curve is smooth, and the delta
    drops fast.
    It need not drop *steadily*: the AWD-LSTM pools its outputs with a maximum, and when the
    position that wins the maximum changes somewhere along the path, the curve being integrated
    has a kink. A few more points can then land on the wrong side of it. That is why the check
    comes with every result instead of being assumed from the step count.

    `n_steps="auto"` uses the check itself, with the `adaptive` rule: it starts from five
    evenly spaced points and keeps halving the stretches of the path (panels) where the error
    sits, until |delta| is at most 1 % of |F(input) − F(baseline)| for every class (with a
    floor for tiny differences) in two rounds in a row, or a cap is reached. F is known at
    every point, so each panel's share of the delta is known exactly, and every point is kept
    for the next round: nothing is computed twice. Its points gather where the curve bends.
    """),
    code("""
    import pandas as pd

    rows = []
    for n in (2, 4, 8, 16, 32, 64, 128, 256):
        e = explainer.explain(REVIEW, n_steps=n)
        rows.append(
            {
                "n_steps": n,
                "Σ attributions": e.scores[c].sum(),
                "delta": e.delta[c],
                "|delta| / |F(input) − F(baseline)|": abs(e.delta[c]) / abs(difference),
            }
        )
    display(pd.DataFrame(rows).set_index("n_steps"))

    auto = explainer.explain(REVIEW, n_steps="auto")
    print(f'n_steps="auto" stopped at {auto.n_steps} points:', auto.summary())
    print("its points on the path:", auto.path.alphas.round(3))
    """),
    md("""
    ## 4. Seeing it: chips, bars and a static report

    `SaliencyChips` draws the text as one chip per word, `AttributionBars` a bar per word. Both
    are single widgets (one template for the whole text, not one widget per word), fed with the
    raw scores of one class.

    **Reading the colours.** A green chip pushed the prediction *towards* the class being
    explained, a red one pushed it *away*. The strength of the colour is the word's |score|
    divided by the largest |score| in the text (`normalize="maxabs"`; `"l2"` and `"none"`
    exist too), so the strongest word is always fully coloured: compare colours within one
    text, not across texts. Hover over a chip to read its raw score. `palette="colorblind"`
    swaps red/green for orange/blue.
    """),
    code("""
    import ipywidgets as widgets

    chips = igw.SaliencyChips.from_explanation(exp)  # the predicted class, one chip per word
    bars = igw.AttributionBars.from_explanation(exp, order="sorted", top_k=10)
    widgets.VBox([chips, bars])
    """),
    md("""
    The same words explained for the other class, in the colour-blind-safe palette. With two
    classes whose probabilities sum to one, the picture is the mirror image: every word that
    helps *positive* hurts *negative* by exactly as much (notebook 04 explores this).
    """),
    code("""
    igw.SaliencyChips.from_explanation(exp, target="negative", palette="colorblind")
    """),
    md("""
    Clicking a chip selects it (a second click deselects), and Python receives the index in
    the `selected` trait, so you can react to a click. Here we set the trait from Python,
    which is what a click does.
    """),
    code("""
    def on_select(change):
        i = change["new"]
        if i >= 0:
            print(f"selected word {i}: {chips.tokens[i]!r}, raw score {chips.scores[i]:+.4f}")


    chips.observe(on_select, names="selected")
    chips.selected = 3
    """),
    md("""
    Widgets need a running kernel. An `Explanation` also renders as plain, self-contained HTML
    (no script, no network, all text escaped): it is what you see when an explanation is the
    last expression of a cell, and it survives in a saved notebook or on a web page.
    `to_html(full_page=True)` gives a complete page you can e-mail or archive; the terminal
    command `python -m ig_widgets explain "some text" --html report.html` writes the same.
    """),
    code("""
    exp
    """),
    code("""
    import tempfile
    from pathlib import Path

    report = Path(tempfile.mkdtemp()) / "quickstart.html"
    report.write_text(exp.to_html(full_page=True), encoding="utf-8")
    page = report.read_text(encoding="utf-8")
    print(f"{report} ({len(page):,} characters); contains a <script>: {'<script' in page}")
    """),
    md("""
    ## 5. The live Explorer

    The Explorer puts all of this behind controls that recompute as you move them, with no
    button: edit the text, move the **steps** slider (or tick *auto*), pick the quadrature
    rule, the **target** class, the **baseline** (a vocabulary token — type to search — the
    neutral tokens it discovers, or zero / average / uncertain embeddings), switch between words
    and tokens, or ask **why not?** (notebook 04).

    The work runs in a background thread: a coarse result appears at once and sharpens, a
    newer change cancels an older computation, and switching the target or the contrast only
    re-draws (every class is already in the `Explanation`). Passing our `explainer` shares its
    cache, so the first result is instant.
    """),
    code("""
    explorer = igw.Explorer(explainer, text=REVIEW)
    explorer
    """),
    md("""
    **The badge** under the prediction is the completeness check of what is shown:
    *Σ attributions · F(input) − F(baseline) · delta*. It turns orange when |delta| exceeds
    1 % of |F(input) − F(baseline)|: the chips are then not yet trustworthy; add steps or tick
    *auto*. A thin bar under the controls shows progress while a computation runs; an error (an
    empty text, a baseline token the model does not know, a text that is too long) appears in
    a banner and leaves your text and settings in place.

    Everything the controls do can be done from Python too. `wait()` blocks until the current
    computation (and the background search for neutral baseline tokens) has finished.
    """),
    code("""
    explorer.wait(timeout=300)
    print(explorer.status)
    print(explorer.explanation.summary())
    explorer.badge
    """),
    code("""
    explorer.target = "negative"  # re-drawn from the cached Explanation: no model call
    print(explorer.badge["label"], f"Σ = {explorer.badge['total']:+.4f}")

    explorer.n_steps = 8  # a real recomputation, on the worker thread
    explorer.wait(timeout=120)
    print(explorer.status)
    print(f"delta at 8 steps: {explorer.badge['delta']:+.2e}, large: {explorer.badge['large']}")
    """),
    md("""
    ## Where next

    - **02 · Baselines** — what "no sentiment" means to this model, and how the choice of
      baseline changes the story the attributions tell.
    - **03 · Long reviews** — why naive gradients through fastai's AWD-LSTM go wrong after 72
      tokens, and how `ig_widgets` avoids it.
    - **04 · Why not?** — explaining the class the model did *not* pick, and contrasts.
    """),
]


# ---------------------------------------------------------------------------------------------
# 02 — baselines
# ---------------------------------------------------------------------------------------------

BASELINES: list[Cell] = [
    md("""
    # 02 · Baselines: what does "nothing" mean to your model?

    Integrated Gradients never explains a prediction on its own. It explains the **difference**
    between the prediction on your text and the prediction on a *baseline*, an input meant to
    say nothing. Change the baseline and you change the question, so you change the answer.

    There is no universally neutral text. The baseline is a property of the model, worth
    investigating and documenting like its accuracy. `ig_widgets` offers five kinds, the ones
    the project's founding article lists:

    | kind | object | what the path starts from |
    |---|---|---|
    | a token repeated | `igw.TokenBaseline("xxunk")` | `xxbos xxunk xxunk …` (the default) |
    | zero embeddings | `igw.ZeroBaseline()` | the origin of the embedding space |
    | several baselines | `igw.AverageBaseline([...])` | each of them; attributions averaged |
    | optimised uncertainty | `igw.UncertainBaseline()` | embeddings tuned until p = ½ / ½ |
    | a discovered token | `igw.discover_neutral_tokens(...)` | the most undecided real token |

    We explain one review with each of them and compare.
    """),
    code("""
    import time

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    import ig_widgets as igw

    learn = igw.load_demo_model()
    explainer = igw.Explainer(learn)
    POS = explainer.classes.index("positive")
    STEPS = 64

    REVIEW = (
        "The cast is wonderful and the music is lovely, but the script is a mess "
        "and the ending drags on forever."
    )
    exp = explainer.explain(REVIEW, n_steps=STEPS)
    print(exp.summary())
    """),
    md("""
    ## 1. A token repeated: `TokenBaseline`

    The default. Every token of the review is replaced by one token, here `xxunk` (the word the
    model has never seen), except the leading `xxbos`, which stays: every text the model ever
    saw started with it, and removing it would mostly measure the surprise of its absence.
    Passing the string `baseline="xxunk"` means the same thing.
    """),
    code("""
    tok = explainer.tokenize(REVIEW)
    print("input:   ", " ".join(tok.tokens))
    print("baseline:", " ".join(t if keep else "xxunk" for t, keep in zip(tok.tokens, tok.keep)))

    exp_unk = explainer.explain(REVIEW, baseline=igw.TokenBaseline("xxunk"), n_steps=STEPS)
    print(f"\\np(positive | baseline) = {exp_unk.f_baseline[POS]:.3f}")
    print(f"p(positive | review)   = {exp_unk.f_input[POS]:.3f}")
    """),
    md("""
    Is a row of unknown words neutral for this model? The probability above says how far it is
    from ½. Whatever it is, the attributions for *positive* add up to the gap between it and
    the review's probability, not to the review's probability itself.

    ## 2. Zero embeddings: `ZeroBaseline`

    The path starts at the origin of the embedding space (again keeping `xxbos`). Zero is a
    natural "absence" for images (a black picture), less so for words: no real token has a zero
    embedding, so the start of the path is a point the model never saw in training. (Nor is
    fastai's padding token `xxpad` a zero embedding: its row was initialised at random like any
    other.)
    """),
    code("""
    exp_zero = explainer.explain(REVIEW, baseline=igw.ZeroBaseline(), n_steps=STEPS)
    print(exp_zero.baseline, "→", f"p(positive | baseline) = {exp_zero.f_baseline[POS]:.3f}")
    """),
    md("""
    ## 3. Several baselines at once: `AverageBaseline`

    If no single reference is convincing, take several and average the attributions (each
    path is integrated separately; the completeness check then holds for the average of the
    baseline outputs). Items can be baseline objects or **reference texts**: a text's tokens
    are repeated to the review's length. A bland sentence makes a reasonable reference.
    """),
    code("""
    average = igw.AverageBaseline(
        [igw.TokenBaseline("xxunk"), igw.ZeroBaseline(), "it is a film about some people ."]
    )
    exp_avg = explainer.explain(REVIEW, baseline=average, n_steps=STEPS)
    print(exp_avg.baseline)
    print(f"mean p(positive | baselines) = {exp_avg.f_baseline[POS]:.3f}")
    """),
    md("""
    ## 4. Uncertainty by construction: `UncertainBaseline`

    Instead of guessing a neutral input, *compute* one: start from the default baseline and
    move its embeddings by gradient descent until the model gives every class the same
    probability. IG then answers the cleanest question of all: how did the words move the
    model away from "I cannot tell"? The object remembers what the optimisation reached in
    `.last`: the probabilities, and the largest distance to ½ at each iteration.
    """),
    code("""
    uncertain = igw.UncertainBaseline()
    exp_unc = explainer.explain(REVIEW, baseline=uncertain, n_steps=STEPS)
    reached = uncertain.last["probs"]
    print(f"reached probabilities {np.round(reached, 4)} in {uncertain.last['iterations']} steps")

    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    ax.plot(uncertain.last["history"])
    ax.set_yscale("log")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("max |p − ½|")
    ax.set_title("the uncertain baseline converging")
    plt.show()
    """),
    md("""
    The optimised embeddings belong to no word: they are not something you can print. That is
    the price of a baseline that is neutral by construction.

    ## 5. Discovering neutral tokens: `discover_neutral_tokens`

    The middle way, from the founding article: look for a *real* token that the model finds
    undecided. Each vocabulary token `t` is scored on `xxbos t t t t t t t t`, and the tokens
    whose prediction is closest to uniform come first. The whole vocabulary is scanned in
    batches, without gradients.
    """),
    code("""
    start = time.perf_counter()
    candidates = igw.discover_neutral_tokens(explainer, top_k=50)
    seconds = time.perf_counter() - start
    print(f"{len(explainer.adapter.vocab):,} tokens scanned in {seconds:.1f} s")


    def neutral_table(found):
        return pd.DataFrame(
            {
                "token": [n.token for n in found],
                "p(positive)": [n.probs[POS] for n in found],
                "distance to uniform": [n.distance for n in found],
            }
        ).round(4)


    neutral_table(candidates[:8])
    """),
    md("""
    For comparison, the same test on the default token (`candidates=` restricts the scan):
    """),
    code("""
    unk = igw.discover_neutral_tokens(explainer, top_k=1, candidates=["xxunk"])[0]
    print(f"xxbos + xxunk × 8: p(positive) = {unk.probs[POS]:.3f}, distance {unk.distance:.3f}")
    """),
    md("""
    **Neutral at which length?** An LSTM reads the repeated token again and again and its state
    keeps moving, so a token that leaves the model undecided after eight repetitions need not
    after two dozen. Our review needs as many repetitions as it has tokens after `xxbos`.
    Check the best candidate at that length, then re-rank the 50 candidates there (`length=`;
    re-ranking a shortlist is much cheaper than scanning the vocabulary again).
    """),
    code("""
    repeats = sum(not keep for keep in tok.keep)
    first = igw.discover_neutral_tokens(
        explainer, top_k=1, length=repeats, candidates=[candidates[0].token]
    )[0]
    print(
        f"'{first.token}': p(positive) {candidates[0].probs[POS]:.3f} at 8 repeats, "
        f"{first.probs[POS]:.3f} at {repeats}"
    )

    at_length = igw.discover_neutral_tokens(
        explainer, top_k=5, length=repeats, candidates=[n.token for n in candidates]
    )
    neutral_table(at_length)
    """),
    code("""
    NEUTRAL = at_length[0].token
    exp_neutral = explainer.explain(REVIEW, baseline=igw.TokenBaseline(NEUTRAL), n_steps=STEPS)
    print(exp_neutral.baseline, "→", f"p(positive | baseline) = {exp_neutral.f_baseline[POS]:.3f}")
    """),
    md("""
    ## 6. Side by side: how the choice changes the story

    First the totals. The deltas are small next to the totals (check them), yet the totals
    differ, because each row explains a different gap: the distance from *its* baseline to the
    review.
    """),
    code("""
    explanations = {
        "xxunk": exp_unk,
        "zero": exp_zero,
        "average": exp_avg,
        "uncertain": exp_unc,
        f"neutral '{NEUTRAL}'": exp_neutral,
    }
    pd.DataFrame(
        {
            name: {
                "p(positive | baseline)": e.f_baseline[POS],
                "p(positive | review)": e.f_input[POS],
                "Σ attributions": e.scores[POS].sum(),
                "delta": e.delta[POS],
            }
            for name, e in explanations.items()
        }
    ).T
    """),
    md("""
    Now the words. Each column holds the attributions for *positive*, per word. The table of
    leading words reads like five different reviews of the review.
    """),
    code("""
    keep = [not w.special for w in exp.words]
    words = [w.text for w, k in zip(exp.words, keep) if k]
    per_word = pd.DataFrame(
        {name: e.word_scores()[POS][keep] for name, e in explanations.items()}, index=words
    )


    def leaders(column, k=4):
        order = column.sort_values()
        fmt = [f"{w} ({s:+.3f})" for w, s in order.items()]
        return fmt[::-1][:k] + fmt[:k]


    labels = [f"for positive #{i + 1}" for i in range(4)] + [f"against #{i + 1}" for i in range(4)]
    pd.DataFrame({name: leaders(per_word[name]) for name in per_word}, index=labels)
    """),
    md("""
    A picture of the same table, each baseline scaled to its own largest |attribution| so that
    the patterns can be compared, and the rank agreement between baselines (Spearman: 1 means
    the same ordering of words).
    """),
    code("""
    scaled = per_word / per_word.abs().max()
    fig, ax = plt.subplots(figsize=(11, 3))
    image = ax.imshow(scaled.T.values, cmap="RdYlGn", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(words)), words, rotation=60, ha="right")
    ax.set_yticks(range(len(per_word.columns)), per_word.columns)
    fig.colorbar(image, ax=ax, label="attribution / max |attribution|")
    ax.set_title("attributions for positive, per baseline")
    fig.tight_layout()
    plt.show()

    per_word.corr(method="spearman").round(2)
    """),
    md("""
    ## What to take away

    - The baseline is part of the question. "Why positive?" really means "why more positive
      than *this*?". Report it next to any attribution you publish (every `Explanation` says
      which one it used in `exp.baseline`).
    - Words with strong sentiment usually keep their sign across baselines; the weaker words
      and the function words are where baselines disagree. Conclusions that hold for several
      baselines are the ones worth trusting.
    - A baseline that already leans one way (check p(positive | baseline)) changes the totals:
      the words are credited with moving the model from that lean, not from indecision. The
      uncertain baseline and a neutral token found at the right length start from ½.
    - In the Explorer, the *baseline* control offers all of these: type to search the
      vocabulary, pick a discovered neutral token (it re-ranks its 30 best at your text's
      length, as above), or choose zero, average or uncertain.
    """),
]


# ---------------------------------------------------------------------------------------------
# 03 — long reviews
# ---------------------------------------------------------------------------------------------

LONG_REVIEWS: list[Cell] = [
    md("""
    # 03 · Long reviews: the bptt trap

    The founding article found that IG on a fastai AWD-LSTM failed as soon as a text was longer
    than about 70 tokens. The crash was the lucky case. The same cause makes *any* gradient of a
    long input **silently wrong**, with no error at all. This notebook shows where the error
    comes from, measures it on real reviews, and shows how `ig_widgets` computes exact
    gradients instead.

    **The cause.** fastai wraps the LSTM in a `SentenceEncoder` which reads a text in chunks of
    `bptt` tokens (72 by default). After each chunk it hands the LSTM's hidden state on to the
    next chunk, but *detaches* it from the computation graph: a memory-saving trick from
    language-model training ("truncated back-propagation through time"). The forward pass is
    unchanged, so predictions are right. Gradients are not: every path by which a token
    influences the output *through a later chunk* is cut away.
    """),
    code("""
    import os
    import time
    from pathlib import Path

    import matplotlib.pyplot as plt
    import pandas as pd
    import torch

    import ig_widgets as igw

    learn = igw.load_demo_model()
    explainer = igw.Explainer(learn)
    adapter = explainer.adapter
    POS = explainer.classes.index("positive")

    encoder = learn.model[0]  # fastai's SentenceEncoder around the AWD_LSTM
    print(f"{type(encoder).__name__}: bptt = {encoder.bptt}, max_len = {encoder.max_len}")
    """),
    md("""
    ## 1. A long review

    We take reviews from the IMDB sample that sits beside the project (`../shared/data` next to
    the repository, or the folder named by the environment variable `IGW_SHARED_DATA`): the
    validation reviews of 300 to 420 tokens, and the first of them as our example. If the data
    is not there, a long review written for this notebook is used instead.
    """),
    code("""
    DATA = Path(os.environ.get("IGW_SHARED_DATA", "../../shared/data")) / "imdb_sample.csv"

    WRITTEN = (
        "I had low expectations for this one. The trailer made it look like yet another "
        "loud thriller with a famous face on the poster and nothing behind it, and the first "
        "twenty minutes did little to change my mind: a clumsy opening in an airport, some "
        "very stiff dialogue, and a villain who seems to have wandered in from a cartoon.<br />"
        "<br />Then something odd happens. The film slows down. The hero, a tired engineer "
        "played with real restraint, gets stuck in a small coastal town, and the story turns "
        "into a quiet, funny and surprisingly tender portrait of the people he meets there. "
        "The old woman who runs the ferry is wonderful. Her scenes with the young mechanic "
        "are the best thing in the movie, sharp and warm at the same time, and the "
        "photography of the harbour at dawn is gorgeous.<br /><br />It is not perfect. The "
        "thriller plot returns in the last act and it is as silly as the opening, with a "
        "chase that goes on far too long and an ending that ties everything up too neatly. "
        "The music is also too loud in places, as if the director did not trust his own "
        "images. But I kept thinking about the middle hour for days afterwards, and I have "
        "already recommended it to three friends. Skip the first reel if you must, stay for "
        "the ferry, and forgive the finale. Seven out of ten, and a name to remember for "
        "the actress who plays the ferry woman."
    )

    long_reviews = []  # (where it comes from, text), at most 8
    if DATA.exists():
        table = pd.read_csv(DATA)
        for row in table[table.is_valid].itertuples():
            if 300 <= len(explainer.tokenize(row.text)) <= 420:
                long_reviews.append((f"imdb_sample.csv row {row.Index} ({row.label})", row.text))
            if len(long_reviews) == 8:
                break
    if not long_reviews:
        long_reviews = [("written for this notebook", WRITTEN)]

    source, review = long_reviews[0]
    tok = explainer.tokenize(review)
    n = len(tok)
    ids = torch.tensor([tok.ids])
    print(f"source: {source}; {n} tokens → {-(-n // encoder.bptt)} chunks of {encoder.bptt}")
    print(review[:400], "…")
    """),
    md("""
    ## 2. The forward pass is not the problem

    Run the review through fastai's own model (chunked) and through the engine's forward, which
    feeds the embeddings to the AWD-LSTM as **one** chunk. The probabilities agree to rounding:
    nothing warns you that the gradients are about to differ.
    """),
    code("""
    learn.model.eval()
    with torch.no_grad():
        p_fastai = learn.model(ids)[0].softmax(-1)[0]
        with adapter.prepared():
            p_engine = adapter.forward_embeds(adapter.embed(ids), ids[0])[0]
    print("fastai, chunked:", p_fastai.numpy().round(6))
    print("engine, 1 chunk:", p_engine.numpy().round(6))
    print(f"max difference:  {(p_fastai - p_engine).abs().max().item():.1e}")
    """),
    md("""
    ## 3. The gradients are

    We compute ∂ p(positive) / ∂ embeddings three ways:

    1. through fastai's model as shipped (`bptt = 72`), catching the output of the embedding
       layer (`encoder_dp`) with a hook, one chunk at a time;
    2. the same with `bptt` raised above the review's length (the founding article's fix);
    3. through the engine.
    """),
    code("""
    def fastai_gradient(token_ids, bptt):
        \"\"\"d p(positive) / d embeddings through fastai's own forward, in chunks of `bptt`.\"\"\"
        caught = []

        def catch(module, inputs, output):
            output.retain_grad()
            caught.append(output)

        saved = encoder.bptt
        encoder.bptt = bptt
        handle = encoder.module.encoder_dp.register_forward_hook(catch)
        try:
            learn.model(token_ids)[0].softmax(-1)[0, POS].backward()
        finally:
            handle.remove()
            encoder.bptt = saved
            learn.model.zero_grad(set_to_none=True)
        return torch.cat([out.grad[0] for out in caught])  # (n_tokens, emb_dim)


    def engine_gradient(token_ids):
        \"\"\"The same gradient through the engine's single-chunk forward.\"\"\"
        with adapter.prepared():
            emb = adapter.embed(token_ids).detach().requires_grad_(True)
            adapter.forward_embeds(emb, token_ids[0])[0, POS].backward()
        learn.model.zero_grad(set_to_none=True)
        return emb.grad[0]


    def relative_error(a, b):
        return ((a - b).norm() / b.norm()).item()


    g_chunked = fastai_gradient(ids, encoder.bptt)
    g_fixed = fastai_gradient(ids, n)
    g_engine = engine_gradient(ids)

    chunks = [slice(s, min(s + encoder.bptt, n)) for s in range(0, n, encoder.bptt)]
    errors = pd.DataFrame(
        {
            "error %, bptt = 72 (fastai default)": [
                100 * relative_error(g_chunked[c], g_engine[c]) for c in chunks
            ],
            "error %, bptt ≥ length (one chunk)": [
                100 * relative_error(g_fixed[c], g_engine[c]) for c in chunks
            ],
        },
        index=[f"tokens {c.start}–{c.stop - 1}" for c in chunks],
    )
    errors.loc["whole review"] = [
        100 * relative_error(g_chunked, g_engine),
        100 * relative_error(g_fixed, g_engine),
    ]
    errors.map("{:.2g}".format)
    """),
    md("""
    The table gives the relative error ‖g − g_engine‖ / ‖g_engine‖ per chunk, in percent. The
    last chunk is exact: nothing comes after it, so nothing was cut. Every earlier chunk lost
    the paths through the hidden state into the chunks that follow. With one chunk, fastai's
    own model and the engine agree to float rounding.

    Token by token, the error is largest just before each chunk boundary (dotted lines): those
    tokens act on the output mostly *through* the next chunk, the very path that was cut.
    """),
    code("""
    per_token = 100 * (g_chunked - g_engine).norm(dim=-1) / g_engine.norm(dim=-1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 4.5), sharex=True)
    top.plot(g_engine.norm(dim=-1).numpy(), label="engine (exact)", linewidth=1.6)
    top.plot(g_chunked.norm(dim=-1).numpy(), label="fastai, bptt = 72", linewidth=1)
    top.set_yscale("log")
    top.set_ylabel("‖gradient‖")
    top.legend()
    bottom.plot(per_token.numpy(), color="tab:red", linewidth=1)
    bottom.set_ylabel("error of bptt = 72, %")
    bottom.set_xlabel("token position")
    for axis in (top, bottom):
        for boundary in range(encoder.bptt, n, encoder.bptt):
            axis.axvline(boundary, color="0.4", linestyle=":", linewidth=1)
    fig.tight_layout()
    plt.show()
    """),
    md("""
    One review could be a lucky or unlucky draw. Here are the same two numbers for each long
    review we collected: the gradient error over the whole review, and in its worst chunk.
    """),
    code("""
    survey = []
    for where, text in long_reviews:
        t = torch.tensor([explainer.tokenize(text).ids])
        chunked, exact = fastai_gradient(t, encoder.bptt), engine_gradient(t)
        worst = max(
            relative_error(chunked[s : s + encoder.bptt], exact[s : s + encoder.bptt])
            for s in range(0, t.shape[1], encoder.bptt)
        )
        survey.append(
            {
                "review": where,
                "tokens": t.shape[1],
                "error %, whole review": 100 * relative_error(chunked, exact),
                "error %, worst chunk": 100 * worst,
            }
        )
    pd.DataFrame(survey).set_index("review").round(1)
    """),
    md("""
    ## 4. What the wrong gradients do to Integrated Gradients

    IG is a weighted average of gradients along the path, so it inherits the error. To see how
    much, we compute IG for *positive* by hand through fastai's chunked model, on exactly the
    points and weights the engine uses (an `Explanation` records them in `exp.path`): a hook on
    `encoder_dp` replaces the embeddings of each chunk by the interpolated ones. The baseline is
    the engine's default, `xxbos xxunk xxunk …`, and both use 32 Gauss-Legendre points. We do it
    for two reviews: our example, and the survey's review with the largest gradient error
    (one and the same when the data is absent).
    """),
    code("""
    UNK = adapter.token_id("xxunk")


    def fastai_ig(text, exp, bptt):
        \"\"\"IG of p(positive) through fastai's forward in chunks of `bptt`, on exp's points.\"\"\"
        t = explainer.tokenize(text)
        token_ids = torch.tensor([t.ids])
        with torch.no_grad():
            x = adapter.embed(token_ids)[0]
            x0 = adapter.embed(torch.tensor([[i if k else UNK for i, k in zip(t.ids, t.keep)]]))[0]
        alphas = torch.tensor(exp.path.alphas, dtype=x.dtype)
        weights = torch.tensor(exp.path.weights, dtype=x.dtype)
        points = (x0 + alphas[:, None, None] * (x - x0)).requires_grad_(True)
        cursor = [0]

        def replace(module, inputs, output):
            width = output.shape[1]
            chunk = points[:, cursor[0] : cursor[0] + width]
            cursor[0] += width
            return chunk

        saved = encoder.bptt
        encoder.bptt = bptt
        handle = encoder.module.encoder_dp.register_forward_hook(replace)
        try:
            learn.model(token_ids.expand(len(alphas), -1))[0].softmax(-1)[:, POS].sum().backward()
        finally:
            handle.remove()
            encoder.bptt = saved
            learn.model.zero_grad(set_to_none=True)
        return torch.einsum("m,mnd,nd->n", weights, points.grad, x - x0)  # (n_tokens,)


    worst = max(range(len(survey)), key=lambda i: survey[i]["error %, whole review"])
    start = time.perf_counter()
    rows, explanations = {}, {}
    for i in sorted({0, worst}):
        where, text = long_reviews[i]
        exp = explanations[i] = explainer.explain(text, n_steps=32)
        gap = exp.f_input[POS] - exp.f_baseline[POS]
        exact = torch.tensor(exp.scores[POS])
        parts = [slice(s, s + encoder.bptt) for s in range(0, len(exact), encoder.bptt)]
        for name, ig in {
            "fastai, bptt = 72": fastai_ig(text, exp, encoder.bptt).double(),
            "engine": exact,
        }.items():
            rows[(where, name)] = {
                "F(input) − F(baseline)": gap,
                "Σ attributions": ig.sum().item(),
                "|delta| / |F(input) − F(baseline)|": abs(ig.sum().item() - gap) / abs(gap),
                "error vs engine %, whole review": 100 * relative_error(ig, exact),
                "error vs engine %, worst chunk": 100
                * max(relative_error(ig[c], exact[c]) for c in parts),
            }
    print(f"{2 * len(explanations)} IG computations in {time.perf_counter() - start:.1f} s")
    pd.DataFrame(rows).T
    """),
    md("""
    Read the last two columns first: how far the chunked attributions are from the exact ones,
    on the whole and in the worst chunk. Then the check. Completeness tests the **sum** of the
    attributions, and the sum only notices the part of the error that does not cancel out:
    depending on the review, the chunked sum misses F(input) − F(baseline) by far more than the
    engine's, or by hardly more. The check is an alarm that can stay silent: a large delta says
    something is wrong, a small one does not prove every token right. Exact gradients are the
    only real fix. (When F(input) − F(baseline) is itself tiny, the review and the baseline
    look alike to the model, and even a small absolute delta is a large fraction of it.)

'''
    ## 5. How the engine avoids it, and the review explained

    The engine never goes through `SentenceEncoder`: it feeds the interpolated embeddings to the
    `AWD_LSTM` as a single chunk (`AWD_LSTM.forward(..., from_embeds=True)`), with a fresh zero
    hidden state, then applies fastai's pooling classifier to all the outputs. So there is no
    `bptt` cut, and no `max_len` limit either (fastai leaves out of the pooling the outputs of
    chunks that start more than `max_len` tokens, 1,440 here, before the end). It does this
    without changing your `Learner`: `bptt`, `max_len`, training mode and weights are left
    exactly as they were found. Long inputs are split along the *interpolation points*, never
    along the text, to keep memory bounded.

    Here is the engine's explanation of our example review, computed above, as chips and as
    the *why / why not* pair of bar charts:
    """),
    code("""
    exp = explanations[0]
    print(exp.summary())
    why = exp.for_class(exp.predicted)
    print(f"|delta| / |F(input) − F(baseline)| = {why.relative_delta:.1e}")
    print(f"the Learner as found: bptt = {encoder.bptt}, max_len = {encoder.max_len}")
    """),
    code("""
    igw.SaliencyChips.from_explanation(exp)
    """),
    code("""
    exp.plot(top_k=15)
    """),
    md("""
    ## What to take away

    - A fastai classifier chunks its input every `bptt` tokens and detaches the state between
      chunks. Predictions are unaffected; the gradients of long inputs are wrong, silently: in
      every chunk but the last, and worst in the tokens just before each chunk boundary.
    - Raising `bptt` above the length (the founding article's fix) makes the gradients exact;
      mind `max_len` too for very long texts. `ig_widgets` does neither to your `Learner`: it
      runs the text as one chunk on its own path.
    - The completeness check is worth reading on every explanation, but it checks a sum: it
      catches errors that add up, not errors that cancel.
    """),
]


# ---------------------------------------------------------------------------------------------
# 04 — why not?
# ---------------------------------------------------------------------------------------------

WHY_NOT: list[Cell] = [
    md("""
    # 04 · Why? and why not?

    Integrated Gradients explains one output of the model at a time, the **target**. Pick the
    predicted class and you ask "why this answer?". Pick another class and you ask the
    question the founding article liked best: "why *not* that one?". This notebook asks both
    on a mixed review, draws the matplotlib *why / why not* pair, and introduces **contrasts**:
    attributions for "why A rather than B?".
    """),
    code("""
    import numpy as np
    import pandas as pd

    import ig_widgets as igw

    learn = igw.load_demo_model()
    explainer = igw.Explainer(learn)
    POS, NEG = explainer.classes.index("positive"), explainer.classes.index("negative")

    REVIEW = (
        "The performances are wonderful and the photography is gorgeous, "
        "but the plot is thin and the last hour is a dull, tedious slog."
    )
    exp = explainer.explain(REVIEW, n_steps=64)
    print(exp.summary())
    """),
    md("""
    ## 1. First, where does the path start?

    Every "why?" is relative to the baseline (notebook 02). With the default baseline,
    `xxbos xxunk xxunk …`, the model is not undecided: it already leans one way before reading a
    single word. The attributions explain the move from that lean to the review, and that move
    can even point *away* from the predicted class, when the baseline is more sure of it than
    the review is. How it goes for our review:
    """),
    code("""
    c = exp.predicted_class
    moved = exp.f_input[exp.predicted] - exp.f_baseline[exp.predicted]
    print(f"p({c}) on the baseline: {exp.f_baseline[exp.predicted]:.3f}")
    print(f"p({c}) on the review:   {exp.f_input[exp.predicted]:.3f}")
    direction = "towards" if moved > 0 else "away from"
    print(f"relative to the baseline, the words moved p({c}) by {moved:+.3f}: {direction} {c}")
    """),
    md("""
    To make "why?" mean "why this rather than undecided?", this notebook starts the path from
    the **uncertain baseline**: embeddings optimised until the model gives both classes ½.
    """),
    code("""
    UNDECIDED = igw.UncertainBaseline()
    exp = explainer.explain(REVIEW, n_steps=64, baseline=UNDECIDED)
    print("baseline reached p =", UNDECIDED.last["probs"].round(4))
    print(exp.summary())
    """),
    md("""
    ## 2. Every class in one `Explanation`

    There is no need to choose the target before computing: `explain` returns the attributions
    of every class, and `for_class` picks one. Each carries its own completeness check.
    """),
    code("""
    why_pos = exp.for_class("positive")
    why_neg = exp.for_class("negative")
    for attribution in (why_pos, why_neg):
        print(
            f"{attribution.label:>8}: Σ = {attribution.total:+.4f}, "
            f"F(input) − F(baseline) = {attribution.f_input - attribution.f_baseline:+.4f}, "
            f"delta = {attribution.delta:+.1e}"
        )

    keep = [not w.special for w in exp.words]
    table = pd.DataFrame(
        {
            "word": [w.text for w in exp.words],
            "why positive?": why_pos.word_scores,
            "why negative?": why_neg.word_scores,
        }
    )[keep]
    table.round(4)
    """),
    md("""
    The two columns are mirror images. That is not a coincidence of this review: the model
    outputs softmax probabilities, and with two classes p(negative) = 1 − p(positive). Any
    change that raises one lowers the other by the same amount, so every attribution to
    *negative* is exactly minus the attribution to *positive*.
    """),
    code("""
    print("max |positive + negative| =", np.abs(why_pos.scores + why_neg.scores).max())
    """),
    md("""
    ## 3. The *why / why not* pair

    `exp.plot()` on a two-class explanation draws the article's pair: the words behind the
    predicted class, and the words behind the class it did not pick, each as a horizontal bar
    chart of raw attributions (the 20 largest words). Read "why not?" off the right-hand chart:
    its long bars to the left are the words that kept the model from choosing that class.
    """),
    code("""
    exp.plot()
    """),
    md("""
    ## 4. Contrasts: "why A rather than B?"

    `exp.contrast("positive", "negative")` is class A's attributions minus class B's. The check
    comes along: its F is F_A − F_B, and its delta is the completeness error of that
    difference. For two softmax classes the contrast is simply twice "why positive?". With
    three or more classes it becomes its own question, because then "why not B?" says nothing
    about C.
    """),
    code("""
    versus = exp.contrast("positive", "negative")
    print(versus.label)
    print(f"F_pos − F_neg: review {versus.f_input:+.4f}, baseline {versus.f_baseline:+.4f}")
    print(f"Σ attributions {versus.total:+.4f}, delta {versus.delta:+.1e}")
    print("contrast == 2 × why positive:", np.allclose(versus.scores, 2 * why_pos.scores))
    exp.plot(target=("positive", "negative"))
    """),
    md("""
    ## 5. Logits: where "why not?" says something new

    Probabilities tie the two classes together. The model's **logits** (its raw scores before
    the softmax) do not: each class has its own, and their difference is the log-odds
    log(p_pos / p_neg), the quantity the softmax turns into a decision. Ask the explainer for
    logits and the *why / why not* pair stops being a mirror, while the contrast explains the
    log-odds, with its own completeness check. (From the uncertain baseline the log-odds start
    at 0, since both classes get ½.)
    """),
    code("""
    logit_explainer = igw.Explainer(learn, output="logits")
    exp_z = logit_explainer.explain(REVIEW, n_steps=64, baseline=UNDECIDED)
    odds = exp_z.contrast("positive", "negative")

    print(f"log-odds: review {odds.f_input:+.4f}, baseline {odds.f_baseline:+.4f}")
    print(f"log(p_pos / p_neg) of the review: {np.log(exp.probs[POS] / exp.probs[NEG]):+.4f}")
    print(
        f"Σ attributions {odds.total:+.4f} vs F(input) − F(baseline) "
        f"{odds.f_input - odds.f_baseline:+.4f} (delta {odds.delta:+.1e})"
    )
    print("max |positive + negative| =", np.abs(exp_z.scores[POS] + exp_z.scores[NEG]).max())
    exp_z.plot()
    """),
    md("""
    Do the probability view and the log-odds view tell the same story? Below, each column is
    scaled by its largest |value|, and the rank correlation says how alike the two orderings of
    words are (1: identical). They can part ways when the model is very sure, because a
    probability flattens out near 0 and 1 while the log-odds keep growing; check it on your own
    reviews.
    """),
    code("""
    words = [w.text for w, k in zip(exp.words, keep) if k]
    views = pd.DataFrame(
        {
            "probability contrast": versus.word_scores[keep],
            "log-odds contrast": odds.word_scores[keep],
        },
        index=words,
    )
    print("Spearman rank correlation:", round(views.corr(method="spearman").iloc[0, 1], 3))
    (views / views.abs().max()).round(3)
    """),
    md("""
    ## 6. In the Explorer

    The Explorer has the same questions behind two controls: the **target** select ("why this
    class?") and the **why not?** toggle, which turns the view into the contrast of the target
    against another class (the most probable other one, unless you pick it). Both are served
    from the `Explanation` already computed: no model call. The baseline menu has the
    *uncertain* entry used here.
    """),
    code("""
    explorer = igw.Explorer(
        explainer, text=REVIEW, target="positive", baseline=UNDECIDED, discover_neutral=False
    )
    explorer.wait(timeout=120)
    print("target:  ", explorer.badge["label"], f"Σ = {explorer.badge['total']:+.4f}")
    explorer.contrast = True
    print("why not?:", explorer.badge["label"], f"Σ = {explorer.badge['total']:+.4f}")
    explorer
    """),
    md("""
    ## What to take away

    - The target is part of the question, and so is the baseline: explain the predicted class
      to see what convinced the model, another class to see what held it back, and start from
      an undecided baseline when you want "why?" to mean "why rather than unsure?".
    - With two softmax classes, "why not negative?" is "why positive?" with the sign flipped,
      and the pair of charts is a mirror. Explaining logits, or a model with more classes,
      breaks the mirror, and contrasts become the sharper tool.
    - Whatever you explain, the completeness check travels with it.
    """),
]


NOTEBOOK_CELLS: dict[str, list[Cell]] = {
    "01_quickstart": QUICKSTART,
    "02_baselines": BASELINES,
    "03_long_reviews": LONG_REVIEWS,
    "04_why_not": WHY_NOT,
}


def build(stem: str, cells: list[Cell]) -> nbformat.NotebookNode:
    """A v4 notebook with stable cell ids, no outputs, and the ``python3`` kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }
    for i, (kind, source) in enumerate(cells):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = make(source)
        cell.id = f"{stem.split('_')[0]}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(stem: str) -> str:
    """The file text of one generated notebook."""
    return nbformat.writes(build(stem, NOTEBOOK_CELLS[stem])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = []
    for stem in NOTEBOOK_CELLS:
        path = NOTEBOOKS / f"{stem}.ipynb"
        text = render(stem)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run scripts/make_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
