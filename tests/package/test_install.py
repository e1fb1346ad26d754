"""The environment running the tests is the install the README promises: CPU torch, < 2.5 GB."""

from __future__ import annotations

import os
import site
import sys
from importlib import metadata
from pathlib import Path

import pytest

#: the README's promise for a fresh `.venv` with the default torch build, in bytes on disk
MAX_VENV_BYTES = 2_500_000_000
#: what scripts/bootstrap.sh installs unless TORCH_SPEC says otherwise
DEFAULT_BUILD = "+cpu"

PREFIX = Path(sys.prefix)
SITE_PACKAGES = [Path(p) for p in site.getsitepackages([sys.prefix])]

_spec = os.environ.get("TORCH_SPEC")
pytestmark = pytest.mark.skipif(
    _spec is not None and DEFAULT_BUILD not in _spec,
    reason=f"TORCH_SPEC={_spec!r} asks for another torch build than the default CPU one",
)


def _distributions() -> list[metadata.Distribution]:
    """The distributions installed in this interpreter's environment (not the user's site)."""
    return list(metadata.distributions(path=[str(p) for p in SITE_PACKAGES]))


def _bytes_on_disk(root: Path) -> int:
    """What ``du -s --block-size=1`` says: allocated blocks, each hard-linked file once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in [root, *root.rglob("*")]:
        stat = path.lstat()
        if (stat.st_dev, stat.st_ino) not in seen:
            seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_blocks * 512
    return total


def test_no_nvidia_packages() -> None:
    nvidia = sorted(
        d.metadata["Name"]
        for d in _distributions()
        if d.metadata["Name"].lower().replace("_", "-").startswith("nvidia-")
    )
    assert not nvidia, f"CUDA libraries in {PREFIX}, on a CPU install: {nvidia}"


def test_torch_is_the_cpu_build() -> None:
    torch = pytest.importorskip("torch")
    assert torch.__version__.endswith(DEFAULT_BUILD), f"torch {torch.__version__} in {PREFIX}"
    assert torch.version.cuda is None, f"torch {torch.__version__} is built for CUDA"


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not run from a virtual environment")
def test_venv_is_under_its_size_limit() -> None:
    size = _bytes_on_disk(PREFIX)
    print(f"{PREFIX}: {size / 1e9:.2f} GB on disk")
    if size >= MAX_VENV_BYTES:
        largest = sorted(
            ((_bytes_on_disk(p), p.name) for s in SITE_PACKAGES for p in s.iterdir() if p.is_dir()),
            reverse=True,
        )[:12]
        listing = "\n".join(f"  {n / 1e6:8.0f} MB  {name}" for n, name in largest)
        pytest.fail(
            f"{PREFIX} takes {size / 1e9:.2f} GB on disk (limit {MAX_VENV_BYTES / 1e9:.1f} GB); "
            f"largest folders:\n{listing}"
        )
