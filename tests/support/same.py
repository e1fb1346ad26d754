"""One field-by-field comparison of two Explanations, for tests of every tier."""

from __future__ import annotations

import dataclasses

import numpy as np

import ig_widgets as igw


def assert_same(a: igw.Explanation, b: igw.Explanation, atol: float = 0.0) -> None:
    """Every field of two Explanations equal (arrays within ``atol``; bit for bit at 0).

    The path is compared part by part; ``n_computed`` is left aside: it says what the call
    that made a result found in its cache, not what the result is.
    """
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if field.name == "n_computed":
            continue
        if field.name == "path":
            assert (x is None) == (y is None)
            if x is not None:
                for part in dataclasses.fields(x):
                    np.testing.assert_allclose(
                        getattr(x, part.name), getattr(y, part.name), rtol=0, atol=atol
                    )
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, field.name
            np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=field.name)
        else:
            assert x == y, field.name
            assert type(x) is type(y), field.name
