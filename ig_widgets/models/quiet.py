"""Imports of third-party libraries without the known deprecation warnings they emit."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

#: (message regex, category) of each known warning; a subclass of the category matches too
KNOWN_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    # fastai's torch_core decorates helpers with torch.jit.script at import time; torch 2.13
    # warns with DeprecationWarning, other releases with FutureWarning
    (r"`torch\.jit\.script` is (deprecated|not supported)", DeprecationWarning),
    (r"`torch\.jit\.script` is (deprecated|not supported)", FutureWarning),
    # fastai.tabular (imported by fastai.text.all) sets an option pandas 3 deprecated
    # (pandas.errors.Pandas4Warning, a DeprecationWarning)
    (r"The 'mode\.chained_assignment' option is deprecated", DeprecationWarning),
)


@contextlib.contextmanager
def known_warnings_hidden() -> Iterator[None]:
    """Hide exactly :data:`KNOWN_WARNINGS` inside the block; every other warning still shows.

    For the import of fastai (``with known_warnings_hidden(): from fastai.text.all import
    ...``): the warnings come from third-party code, at import time, and say nothing to a user
    of this package. The filters are restored on exit (``warnings.catch_warnings``).
    """
    with warnings.catch_warnings():
        for message, category in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield
