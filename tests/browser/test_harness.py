"""The harness itself on a trivial notebook: Voila renders a Vuetify slider and Python answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .jupyter_ui import open_notebook, run_all_cells
from .nbfiles import write_notebook
from .pages import RecordedPage, drag_slider, screenshot, wait_until
from .servers import Server, free_port, server_env, start_server, voila_cmd

pytestmark = pytest.mark.browser

TRIVIAL = """
import ipyvuetify as v
import ipywidgets as w
slider = v.Slider(min=1, max=100, v_model=10, attributes={"aria-label": "steps"},
                  class_="trivial-slider")
echo = w.HTML(value="<span class='echo'>10</span>")
slider.observe(lambda change: setattr(echo, "value", f"<span class='echo'>{change['new']}</span>"),
               "v_model")
display(v.Container(children=[slider, echo]))
"""


@pytest.fixture(scope="module")
def trivial_voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("trivial")
    write_notebook(folder / "trivial.ipynb", [TRIVIAL])
    port = free_port()
    server = start_server(
        voila_cmd(folder, port),
        url=f"http://127.0.0.1:{port}",
        probe="/",
        log=folder / "voila.log",
        cwd=folder,
        env=server_env(folder / "home"),
    )
    yield server
    server.stop()


def test_harness_voila_round_trip(trivial_voila: Server, recorded: RecordedPage) -> None:
    page = recorded.page
    page.goto(f"{trivial_voila.url}/voila/render/trivial.ipynb", timeout=60_000)
    slider = page.locator("[aria-label=steps]").first
    slider.wait_for(state="attached", timeout=60_000)
    screenshot(page, "harness_voila_before")
    drag_slider(page, slider, 0.8)
    echo = page.locator(".echo")
    value = wait_until(
        lambda: float(echo.text_content() or 0) > 50, what="Python to echo the dragged slider"
    )
    assert value
    screenshot(page, "harness_voila_after")
    recorded.assert_local()


def test_harness_server_log_on_failure(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(RuntimeError, match="exited with code"):
        start_server(
            [*voila_cmd(tmp_path / "missing.ipynb", port), "--no-such-option-xyz=1"],
            url=f"http://127.0.0.1:{port}",
            probe="/",
            log=tmp_path / "voila.log",
            cwd=tmp_path,
            env=server_env(tmp_path / "home"),
            timeout=60,
        )


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_harness_jupyter_round_trip(
    front_end: str, lab_server: Server, lab_root: Path, recorded: RecordedPage
) -> None:
    write_notebook(lab_root / "trivial.ipynb", [TRIVIAL])
    page = recorded.page
    open_notebook(page, lab_server, front_end, "trivial.ipynb")
    run_all_cells(page)
    slider = page.locator("[aria-label=steps]").first
    slider.wait_for(state="attached", timeout=60_000)
    drag_slider(page, slider, 0.8)
    echo = page.locator(".echo")
    wait_until(lambda: float(echo.text_content() or 0) > 50, what="Python to echo the drag")
    screenshot(page, f"harness_{front_end}")
