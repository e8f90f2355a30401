"""report.html: self-contained, opened in headless Chromium; `wfbt report` redraws a finished run
(also an older one) from its files without training."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from browser import Browser, find_chromium
from wfbt import engine
from wfbt.cli import main


@pytest.fixture
def finished_run(tiny_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, folder)
    return folder


def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("something tried to train")

    monkeypatch.setattr(engine.Trainer, "start", refuse)
    monkeypatch.setattr(engine.Trainer, "predict", refuse)


def test_report_redraws_the_same_summary_and_plots_without_training(finished_run, capsys, monkeypatch):
    # `wfbt run` on a finished run trains nothing, then writes plots and report.html
    assert main(["run", str(finished_run / "config.toml"), "--out", str(finished_run)]) == 0
    printed_by_run = capsys.readouterr().out
    drawn = {p.name: p.read_bytes() for p in (finished_run / "plots").glob("*.png")}
    summary = (finished_run / "summary.json").read_text()
    assert "equity.png" in drawn and (finished_run / "report.html").is_file()
    shutil.rmtree(finished_run / "plots")
    (finished_run / "report.html").unlink()

    no_training(monkeypatch)
    assert main(["report", str(finished_run)]) == 0
    printed_by_report = capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (finished_run / "plots").glob("*.png")} == drawn  # byte for byte
    assert (finished_run / "summary.json").read_text() == summary
    # the same tables, the same residual test; only the closing lines differ
    assert printed_by_run.split("Residuals of")[0] == printed_by_report.split("Residuals of")[0]
    assert "Ljung-Box" in printed_by_report and "report.html" in printed_by_report

    assert main(["report", str(finished_run), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(finished_run / "report.html")
    assert main(["report", str(finished_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(summary)  # nothing else on stdout


def test_report_of_an_older_run_directory(finished_run, capsys, monkeypatch):
    """Written before the out-of-sample forecasts, curves.csv and newer summary keys existed."""
    summary = json.loads((finished_run / "summary.json").read_text())
    for key in ("dm_test_after_validation", "next_forecast", "training_sessions"):
        summary.pop(key, None)
    for key in ("periods_per_year", "periods_per_year_source"):
        summary["strategy"].pop(key)
    (finished_run / "summary.json").write_text(json.dumps(summary))
    for name in ("test_predictions.csv", "curves.csv"):
        (finished_run / name).unlink()
    no_training(monkeypatch)
    assert main(["report", str(finished_run)]) == 0
    assert {p.stem for p in (finished_run / "plots").glob("*.png")} == {
        "errors", "errors_over_time", "loss_curves", "equity"}
    page = (finished_run / "report.html").read_text()
    assert "one-step validation forecasts" in page  # the verdict falls back to the validation DM test
    assert "no out-of-sample forecasts to test" in capsys.readouterr().out


def test_report_page_is_self_contained(finished_run):
    from wfbt.html_report import write_report

    page = write_report(finished_run).html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from the network
    assert page.count('src="data:image/png;base64,') == 6
    for name in ("splits.csv", "predictions.csv", "test_predictions.csv", "equity.csv", "config.toml"):
        assert f'href="{name}"' in page
    assert 'class="verdict' in page and "Diebold-Mariano" in page and "Ljung-Box" in page


CHROMIUM = find_chromium()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium; .ci/run installs it)")
def test_report_opens_in_headless_chromium(finished_run, tmp_path):
    from wfbt.html_report import write_report

    page = write_report(finished_run).html
    with Browser(CHROMIUM) as browser:
        # the checks can fail: a page with a broken image and a console error is caught
        broken = tmp_path / "broken.html"
        broken.write_text('<img src="missing.png"><script>console.error("boom")</script>')
        browser.open(broken.as_uri())
        assert any("boom" in e for e in browser.errors())
        assert browser.evaluate("document.images[0].naturalWidth") == 0
        browser.events.clear()

        browser.open(page.as_uri())
        assert browser.errors() == []
        images = browser.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(images) == 6 and all(done and width > 0 and height > 0 for done, width, height in images)
        captions = browser.evaluate("[...document.querySelectorAll('table caption')].map(c => c.textContent)")
        assert {"Facts", "Validation RMSE (price units) per split", "Residuals of the out-of-sample forecasts"} <= set(captions)
        assert any(caption.startswith("P&L of") for caption in captions)
        rows = browser.evaluate("document.querySelectorAll('table tbody tr').length")
        assert rows > 30
        assert "walk-forward backtest" in browser.evaluate("document.querySelector('h1').textContent")
