"""Reading the bundled float16 state dicts safely (weights only, never a pickle of code)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from torch import nn

ModuleT = TypeVar("ModuleT", bound="nn.Module")


def load_state(module: ModuleT, path: Path) -> ModuleT:
    """Load a shipped state dict into ``module`` as float32 and put it in eval mode.

    Parameters
    ----------
    module : torch.nn.Module
        A freshly built module with the shipped architecture.
    path : Path
        A ``torch.save`` of a plain dict of tensors (float16 or float32), read with
        ``torch.load(..., weights_only=True)``: no code can run from the file.

    Returns
    -------
    torch.nn.Module
        ``module`` itself, every floating tensor float32, in eval mode.
    """
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    module.eval()
    return module
