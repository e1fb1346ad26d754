"""The pytest plugin (``pytest11`` entry point): reference runs stored as Parquet, for drift tests.

Installing ``ig-widgets`` registers it; a test asks for the ``explanation_reference``
fixture and hands it a new run::

    def test_reasons_did_not_drift(explanation_reference):
        run = explainer.explain_many(TEXTS, n_steps=32, progress=False)
        explanation_reference.check(run, top_k=5, tol=0.05)

The first time (no file yet), the run is stored beside the test as
``explanations/<test module>/<test name>.parquet`` and the test is skipped with the path to
commit; later runs are compared with :func:`ig_widgets.testing.assert_explanations_stable`.
``pytest --update-explanations`` (or ``IGW_UPDATE_EXPLANATIONS=1``) stores the new runs as the
references. On CI (``CI`` set, as GitHub Actions, GitLab and most services do) a missing
reference fails instead: a reference stored on a throw-away machine would test nothing.

Importing this module is cheap (no torch, no pandas): pytest loads it in every session.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.corpus import CorpusExplanation

__all__ = ["FOLDER", "UPDATE_ENV", "ExplanationReference", "explanation_reference"]

#: the folder, beside the test module, that holds its reference runs
FOLDER = "explanations"
#: the environment variable that, set to 1, stores new runs as references
UPDATE_ENV = "IGW_UPDATE_EXPLANATIONS"
#: characters a reference's file name keeps (the rest become ``_``)
_UNSAFE = re.compile(r"[^\w.-]+")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-explanations``: store this session's runs as the reference runs."""
    parser.getgroup("ig_widgets").addoption(
        "--update-explanations",
        action="store_true",
        default=False,
        help="store the runs handed to explanation_reference.check as the new references",
    )


class ExplanationReference:
    """One test's reference runs: stored on first use, compared on every later run.

    Parameters
    ----------
    folder : Path
        Where the test's reference files live.
    stem : str
        The test's name (the file name of its unnamed reference).
    update : bool
        Store every run handed to :meth:`check` as the new reference.
    ci : bool
        A missing reference fails instead of being stored.
    """

    def __init__(self, folder: Path, stem: str, *, update: bool, ci: bool) -> None:
        self.folder = folder
        self.stem = stem
        self.update = update
        self.ci = ci

    def path(self, name: str | None = None) -> Path:
        """The Parquet file of the reference called ``name`` (None: the test's own)."""
        stem = self.stem if name is None else f"{self.stem}-{name}"
        return self.folder / f"{_UNSAFE.sub('_', stem)}.parquet"

    def check(
        self, run: CorpusExplanation, name: str | None = None, **options: Any
    ) -> pd.DataFrame:
        """Compare ``run`` with the stored reference (store it first when there is none).

        Parameters
        ----------
        run : CorpusExplanation
            The new run (``explain_many`` of the same texts, with the same ids).
        name : str, optional
            Which of the test's references (for a test that checks several runs).
        **options
            For :func:`ig_widgets.testing.assert_explanations_stable` (``top_k``, ``tol``,
            ``min_count``, ``target``, ``allow_flips``, ``text_tol``).

        Returns
        -------
        pandas.DataFrame
            The per-text table of :func:`~ig_widgets.testing.assert_explanations_stable`.

        Raises
        ------
        AssertionError
            When the reasons drifted (the helper's report).
        """
        from ig_widgets.engine.corpus import CorpusExplanation
        from ig_widgets.testing import assert_explanations_stable

        path = self.path(name)
        if self.update or not path.exists():
            if not self.update and self.ci:
                pytest.fail(
                    f"no reference run at {path}: run the tests once on your machine (or with "
                    "--update-explanations) and commit the file"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            run.save(path)
            pytest.skip(f"stored the reference run {path}: commit it; later runs compare with it")
        return assert_explanations_stable(CorpusExplanation.load(path), run, **options)


@pytest.fixture
def explanation_reference(request: pytest.FixtureRequest) -> ExplanationReference:
    """The running test's :class:`ExplanationReference` (in ``explanations/<module>/``)."""
    module = Path(str(request.node.path))
    update = bool(request.config.getoption("--update-explanations", default=False))
    return ExplanationReference(
        module.parent / FOLDER / module.stem,
        request.node.name,
        update=update or os.environ.get(UPDATE_ENV, "") == "1",
        ci=bool(os.environ.get("CI")),
    )
