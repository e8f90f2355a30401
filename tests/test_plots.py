"""Plots of a tiny run: written, valid PNGs of a sane size, with and without a strategy and with
gaussian_nll; the residual test against hand-worked numbers; `wfbt compare` on two runs."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest

from conftest import TINY_TOML
from wfbt import plots
from wfbt.cli import main
from wfbt.diagnostics import acf, ljung_box
from wfbt.html_report import write_report
from wfbt.rundata import read_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALWAYS = {"errors", "errors_over_time", "forecast", "loss_curves", "residuals"}


def png_size(payload: bytes) -> tuple[int, int]:
    assert payload[:8] == PNG_SIGNATURE and payload[12:16] == b"IHDR"
    return struct.unpack(">II", payload[16:24])


def check_pngs(folder, expected: set[str]) -> None:
    assert {p.stem for p in folder.glob("*.png")} == expected
    for path in folder.glob("*.png"):
        payload = path.read_bytes()
        width, height = png_size(payload)
        assert width == plots.WIDTH * plots.DPI and 300 <= height <= 900, (path.name, width, height)
        assert 10_000 < len(payload) < 400_000, (path.name, len(payload))  # drawn, and not a monster
        assert payload.endswith(b"IEND\xaeB`\x82")  # whole


@pytest.fixture(scope="module")
def traded_run(tiny_run, tmp_path_factory):
    """A copy of the shared tiny run (it trades a strategy), so writing plots leaves it untouched."""
    folder = tmp_path_factory.mktemp("traded") / "run"
    shutil.copytree(tiny_run.run_dir, folder)
    return folder


@pytest.fixture(scope="module")
def gaussian_run(tiny_data, tmp_path_factory):
    """The tiny experiment with loss = "gaussian_nll" and no strategy."""
    from wfbt.api import run_experiment
    from wfbt.config import load_config

    folder = tmp_path_factory.mktemp("gaussian")
    text = TINY_TOML.format(source=str(tiny_data)).replace("seed = 7", 'seed = 7\nloss = "gaussian_nll"')
    text = text[: text.index("[strategy]")]
    (folder / "gaussian.toml").write_text(text)
    run_experiment(load_config(folder / "gaussian.toml"), out_dir=folder / "out")
    return folder / "out"


def test_plots_of_a_run_with_a_strategy(traded_run):
    files = write_report(traded_run)
    check_pngs(traded_run / "plots", ALWAYS | {"equity"})
    assert sorted(files.plots) == sorted((traded_run / "plots").glob("*.png"))
    assert files.residuals["points"] > 10 and 0.0 <= files.residuals["ljung_box"]["p_value"] <= 1.0


def test_plots_with_gaussian_nll_and_no_strategy(gaussian_run):
    write_report(gaussian_run)
    check_pngs(gaussian_run / "plots", ALWAYS | {"intervals"})
    run = read_run(gaussian_run)
    figure = plots.intervals(run)
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert any(text.startswith("80% interval") for text in legend)
    assert plots.equity(run) is None  # no strategy: no figure, no file


def test_figures_say_what_they_show(traded_run):
    run = read_run(traded_run)
    figure = plots.forecast_vs_actual(run)
    assert "Out-of-sample forecast vs actual" in figure.get_suptitle()
    top = figure.axes[0]
    assert "price units" in top.get_ylabel() and "Close" in top.get_ylabel()
    assert top.xaxis.get_major_formatter().__class__.__name__ == "ConciseDateFormatter"  # dates on x
    equity = plots.equity(run)
    assert equity.axes[0].get_yscale() in ("log", "linear") and equity.axes[1].get_ylabel() == "drawdown"
    assert plots.equity(run, log=False).axes[0].get_yscale() == "linear"


def test_acf_and_ljung_box_by_hand():
    x = np.array([1.0, -1.0, 1.0, -1.0])  # mean 0, sum of squares 4
    # r1 = (-1 -1 -1) / 4, r2 = (1 + 1) / 4
    np.testing.assert_allclose(acf(x, 2), [1.0, -0.75, 0.5])
    # Q = n (n + 2) (r1^2 / (n - 1) + r2^2 / (n - 2)) = 24 (0.5625 / 3 + 0.25 / 2) = 7.5
    test = ljung_box(x, 2)
    assert test["statistic"] == pytest.approx(7.5) and test["lags"] == 2 and test["n"] == 4
    assert test["p_value"] == pytest.approx(np.exp(-7.5 / 2))  # chi-squared with 2 df: exp(-Q / 2)
    noise = np.random.default_rng(0).normal(size=2000)
    assert ljung_box(noise, 10)["p_value"] > 0.05
    assert ljung_box(np.cumsum(noise), 10)["p_value"] < 1e-10


def test_compare_two_runs_writes_a_page(traded_run, gaussian_run, tmp_path, capsys):
    page = tmp_path / "compare.html"
    assert main(["compare", str(traded_run), str(gaussian_run), "--html", str(page)]) == 0
    printed = capsys.readouterr().out
    assert "Runs compared" in printed and "Diebold-Mariano between runs" in printed
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 2  # errors overlaid, equity curves
    assert "Headline figures" in text and "run" in text and "out" in text
    # the two runs forecast the same dates of the same data: a DM test with a number
    from wfbt.html_report import compare_runs

    _, tests = compare_runs([traded_run, gaussian_run])
    assert tests[0]["n"] > 10 and np.isfinite(tests[0]["statistic"])
