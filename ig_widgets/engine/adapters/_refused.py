"""Models no family explains exactly (TorchScript, quantized, meta-device), refused up front."""

from __future__ import annotations

from typing import Any

import torch

#: where torch keeps its quantized module classes (eager and dynamic quantization)
_QUANTIZED = ("torch.ao.nn.quantized", "torch.nn.quantized", "torch.ao.nn.intrinsic.quantized")


def refuse_compiled(model: Any) -> None:
    """``TypeError`` for a TorchScript module (scripted or traced), or a bundle holding one."""
    inner = getattr(model, "module", None)
    for candidate in (model, inner):
        if isinstance(candidate, torch.jit.ScriptModule):
            raise TypeError(
                f"A TorchScript module ({type(candidate).__name__}) cannot be explained: the "
                "engine puts the IG path's points into the model with a Python forward hook on "
                "its embedding layer, and a scripted or traced module runs compiled code that "
                "takes no such hook. Pass the Python module you gave to torch.jit.script or "
                "torch.jit.trace (same weights); the TorchScript copy computes the same function."
            )


def refuse_unexplainable(network: torch.nn.Module) -> None:
    """``TypeError`` for quantized modules, ``ValueError`` for weights on the meta device.

    Checked on the module a family wraps (``learn.model``, a pipeline's model, …).
    """
    refuse_compiled(network)
    quantized = sorted(
        {f"{name or 'the model'} ({type(m).__name__})" for name, m in network.named_modules()
         if type(m).__module__.startswith(_QUANTIZED)}
    )  # fmt: skip
    if quantized:
        raise TypeError(
            f"The model has quantized modules ({', '.join(quantized[:4])}"
            f"{', …' if len(quantized) > 4 else ''}): their integer kernels have no gradients "
            "(and their packed weights are not parameters), so IG cannot differentiate F. "
            "Explain the float model you quantized (before torch.ao.quantization."
            "quantize_dynamic or convert); compare its predictions with the quantized one's to "
            "see how far the explanation carries over."
        )
    on_meta = [
        name
        for name, t in (*network.named_parameters(), *network.named_buffers())
        if t.device.type == "meta"
    ]
    if on_meta:
        raise ValueError(
            f"The model's weights are on the meta device ({', '.join(on_meta[:3])}"
            f"{', …' if len(on_meta) > 3 else ''}: {len(on_meta)} tensors): they have shapes "
            "but no values, so there is nothing to compute. Load the weights first: "
            "model.to_empty(device='cpu') then model.load_state_dict(...), or from_pretrained "
            "without a meta device or device_map."
        )
