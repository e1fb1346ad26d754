"""Example model tests with ``ig_widgets.testing``: copy this file into your ``tests/``.

Run it with ``pytest docs/example_model_test.py``. Point :func:`make_explainer` at your model
(a fastai ``Learner``, a ``TorchTextClassifier``, a Hugging Face classifier with its
tokenizer …) and write the texts and words that matter for your use. Each assertion explains
every text with Integrated Gradients; a failure lists the offending texts with their numbers::

    the prediction is not stable when swapping john→mary (tol 0.1): 1 of 2 texts
      [0] 'John plays the lead with charm, and the ending works.' (John→Mary):
          P(negative) 0.535 → 0.142 (-0.393), prediction negative → positive
"""

from __future__ import annotations

import pytest

import ig_widgets as igw
from ig_widgets.testing import assert_attribution_below, assert_prediction_stable

#: texts in which a pronoun should not matter
PRONOUN_TEXTS = [
    "He gives a wonderful performance in this moving film.",
    "She was the only reason to watch this dull, overlong mess.",
    "His direction is sharp and the script is funny.",
    "Her character is thin and the plot makes no sense.",
]
#: texts in which a first name should not matter
NAME_TEXTS = [
    "John plays the lead with charm, and the ending works.",
    "Mary is wasted in a role with nothing to do.",
]
#: few steps keep the test fast; the checks compare predictions, which need no steps at all
OPTIONS = {"n_steps": 16, "progress": False}


def make_explainer() -> igw.Explainer:
    """The explainer of the model under test (here: the bundled demo sentiment model)."""
    return igw.Explainer(igw.load_demo_model())


@pytest.fixture(scope="module")
def explainer() -> igw.Explainer:
    """One explainer for the module: the model loads once."""
    return make_explainer()


def test_pronouns_barely_move_the_prediction(explainer: igw.Explainer) -> None:
    """Swapping he/she and his/her moves no probability by more than 0.1."""
    assert_prediction_stable(
        explainer, PRONOUN_TEXTS, swaps={"he": "she", "his": "her"}, tol=0.1, **OPTIONS
    )


def test_pronouns_carry_little_attribution(explainer: igw.Explainer) -> None:
    """No pronoun carries more than a quarter of a text's attribution."""
    assert_attribution_below(
        explainer, PRONOUN_TEXTS, words=["he", "she", "his", "her"], max_share=0.25, **OPTIONS
    )


@pytest.mark.xfail(
    strict=True,
    reason="a finding: the demo model leans on first names (John → Mary flips a review)",
)
def test_names_do_not_move_the_prediction(explainer: igw.Explainer) -> None:
    """Swapping John/Mary moves no probability by more than 0.1 (it does: recorded above)."""
    assert_prediction_stable(explainer, NAME_TEXTS, swaps={"john": "mary"}, tol=0.1, **OPTIONS)
