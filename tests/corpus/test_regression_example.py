"""The recipe of docs/explanation_tests.md, run in this project's CI: the demo CNN's reasons."""

from __future__ import annotations

import ig_widgets as igw

# the fixture, imported so that it is found before the plugin's entry point is installed
from ig_widgets.pytest_plugin import ExplanationReference, explanation_reference  # noqa: F401

#: texts whose explanations the project keeps stable (any texts of yours: ids are positions)
TEXTS = [
    "A gorgeous, moving film with a great cast.",
    "The acting is awful and the story is boring.",
    "Not good, not bad: just dull.",
    "I loved the music, but the plot is a mess.",
    "Steven Spielberg made a warm, funny and clever film.",
    "The worst script of the year; the cast deserved better.",
    "A slow start, then a thrilling, beautiful second half.",
    "Predictable, loud and far too long.",
]


def test_demo_cnn_reasons_are_stable(
    explanation_reference: ExplanationReference,  # noqa: F811  (the imported fixture)
) -> None:
    """Fails when a change to the CNN (weights, tokenizer, IG settings) moves its reasons.

    The reference is ``explanations/test_regression_example/<this test>.parquet``; after an
    intended change, ``pytest --update-explanations`` (or ``IGW_UPDATE_EXPLANATIONS=1``)
    stores the new run, to be committed with the change.
    """
    explainer = igw.Explainer(igw.load_demo_model("cnn"))
    run = explainer.explain_many(TEXTS, n_steps=32, progress=False)
    table = explanation_reference.check(run, top_k=5, tol=0.05, text_tol=0.1)
    assert len(table) == len(TEXTS)
