"""What a new user hit in a first hour (issue 13): markup in names, 80 columns, pipes, quiet and
JSON output, file names and CSV dialects, sample tickers, the version, paths and flags, docs drift."""

import copy
import importlib.metadata
import inspect
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import wfbt
from conftest import random_walk, write_config, write_prices
from wfbt import report
from wfbt.cli import main
from wfbt.config import DataConfig
from wfbt.data import load_prices, sample_tickers, sniff_separator
from wfbt.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def _render(summary, width: int) -> str:
    console = Console(width=width, record=True)
    report.print_summary(console, summary)
    return console.export_text()


# ---------------------------------------------------------------- 3: names are not markup


def test_list_prints_the_config_names_it_documents(capsys):
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "Models ([model] name)" in listed and "Strategies ([strategy] name;" in listed


def test_user_names_print_as_written_not_as_markup(tiny_run):
    summary = copy.deepcopy(tiny_run.summary)
    summary["data"]["source"] = "/data/p[/]x [bold].csv"
    summary["data"]["target"] = "Close [red]"
    summary["strategy"]["name"] = "strategies/[b]odd.py:S[/]"
    summary["strategy"]["params"] = {"tag": "[italic]x"}
    summary["compare"]["val_rmse_price"] = {"[bold]model": summary["compare"]["val_rmse_price"]["model"]}
    printed = _render(summary, 120)
    for text in ("/data/p[/]x [bold].csv", "Close [red]", "strategies/[b]odd.py:S[/]", "tag=[italic]x", "[bold]model"):
        assert text in printed
    runs = [("runs/v[/]x", summary), ("[bold]b", summary)]
    console = Console(width=120, record=True)
    console.print(report.compare_table(runs))
    compared = console.export_text()
    assert "runs/v[/]x" in compared and "[bold]b" in compared


def test_an_output_folder_with_markup_in_its_name_runs_and_prints(tmp_path, tiny_data, capsys):
    config = write_config(tmp_path, tiny_data)
    out = tmp_path / "v[/]x[bold]"  # the folder "]x[bold]" in the folder "v["
    assert main(["run", str(config), "--out", str(out), "--max-splits", "2"]) == 0
    assert f"results in {out}\n" in capsys.readouterr().out
    assert main(["compare", str(out)]) == 0
    assert "]x[bold]" in capsys.readouterr().out


# ---------------------------------------------------------------- 4, 13: file names, CSV dialects


def _loaded(path: Path, **dialect):
    return load_prices(DataConfig(source=str(path), target="Close"), (path.parent,), 5, **dialect)


def test_a_data_file_with_glob_characters_in_its_name_loads(tmp_path):
    data = write_prices(tmp_path / "prices [v1]*.csv", random_walk(20))
    (tmp_path / "prices 1.csv").write_text("not this one\n")  # what the pattern would match
    assert len(_loaded(data)) == 20


def test_csv_dialects_are_detected_or_named(tmp_path):
    values = random_walk(12)
    days = [f"2020-01-{d:02d}" for d in range(1, 13)]
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("Date;Close\n" + "".join(f"{d};{v:.4f}".replace(".", ",") + "\n" for d, v in zip(days, values)))
    np.testing.assert_allclose(_loaded(semicolons, decimal=",").values, values, atol=1e-4)
    with pytest.raises(UserError, match=r"row 1 \(2020-01-01\) holds '[\d,]+'\. Is the decimal separator a comma\? "
                                        r'Set \[data\] decimal = ","'):
        _loaded(semicolons)
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("Date\tClose\n" + "".join(f"{d}\t{v}\n" for d, v in zip(days, values)))
    np.testing.assert_allclose(_loaded(tabs).values, values)
    assert len(_loaded(tabs, separator="\t")) == 12
    with pytest.raises(UserError, match="separated by ','"):
        _loaded(tabs, separator=",", decimal=",")
    assert [sniff_separator(h) for h in ("Date,Close\n", "Date;Adj Close;Volume", "a\tb", "a|b", "Close")] == [
        ",", ";", "\t", "|", ","]


# ---------------------------------------------------------------- 5: 80 columns


@pytest.mark.parametrize("width", [80, 120])
def test_the_summary_fits_the_width_without_cutting_numbers(tiny_run, width):
    printed = _render(tiny_run.summary, width)
    assert "…" not in printed
    assert max(len(line) for line in printed.splitlines()) <= width
    assert "n periods" in printed and "n days" not in printed
    assert "0.96…" not in printed and "P&L (out-of-sample, after costs)" in printed


def test_the_wider_console_gets_the_wider_tables(tiny_run):
    assert "count" in _render(tiny_run.summary, 120).split("Validation RMSE")[1].split("\n")[2]
    assert "count" not in _render(tiny_run.summary, 80).split("Validation RMSE")[1].split("\n")[2]


def test_the_strategy_note_says_how_returns_were_annualised(tiny_run):
    summary = copy.deepcopy(tiny_run.summary)
    for key in ("periods_per_year", "periods_per_year_source"):  # as an older summary.json
        summary["strategy"].pop(key, None)
    assert "annualised with" not in _render(summary, 80)  # nothing claimed
    summary["strategy"]["periods_per_year"] = 52
    summary["strategy"]["periods_per_year_source"] = "inferred from the data's weekly step"
    assert "annualised with 52 periods per year (inferred from the data's weekly step)" in " ".join(
        _render(summary, 80).split())


def test_the_report_builds_its_own_strategy_table():
    assert "wfbt.pnl" not in inspect.getsource(report)
    assert [report.format_figure(*f) for f in (("sharpe", float("nan")), ("hit_rate", 0.5), ("n_periods", 1234.0),
                                               ("calmar", 1.234))] == ["n/a", "50.00%", "1,234", "1.23"]


# ---------------------------------------------------------------- 8: a closed pipe


def test_a_reader_that_stops_early_is_not_an_error(tiny_run):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "wfbt.cli", "report", str(tiny_run.run_dir)]
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    reader.stdout.close()  # like `| head -0`: gone before the first line is written
    _, err = reader.communicate(timeout=120)
    assert reader.returncode in (0, 141) and err == b""


# ---------------------------------------------------------------- 9: --quiet, --json


def test_quiet_prints_only_the_run_directory_and_json_only_the_summary(tmp_path, tiny_data, capsys):
    config = write_config(tmp_path, tiny_data)
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--max-splits", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{out}\n" and captured.err == ""
    assert main(["run", str(config), "--out", str(out), "--json", "--max-splits", "2"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == json.loads((out / "summary.json").read_text()) and captured.err == ""
    assert main(["report", str(out), "--json"]) == 0
    assert captured.out == capsys.readouterr().out
    assert "not allowed with argument" in " ".join(_error(capsys, ["run", str(config), "--quiet", "--json"]).split())


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# ---------------------------------------------------------------- 12: sample tickers, plugins


def test_sample_tickers_get_a_case_insensitive_did_you_mean():
    with pytest.raises(UserError, match="no sample data for 'aapl'. Did you mean 'AAPL'?"):
        load_prices(DataConfig(source="sample:aapl"), (), 210)


def test_a_sample_too_short_for_one_split_says_so():
    fb = {t.name: t for t in sample_tickers()}["FB"]
    with pytest.raises(UserError, match=rf"sample ticker FB has {fb.rows} rows \({fb.first_date} .. {fb.last_date}\), "
                                        r"but one split needs at least 210 rows"):
        load_prices(DataConfig(source="sample:FB"), (), 210)


def test_list_shows_sample_tickers_with_rows_and_which_are_too_short(capsys):
    assert main(["list"]) == 0
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines() if "sample:" in line[:12]}
    assert "too short" in lines["sample:FB"] and "196" in lines["sample:FB"]
    assert "fits" in lines["sample:AAPL"] and "2000-03-01" in lines["sample:AAPL"]


def test_list_shows_file_plugins_under_the_working_directory(capsys, monkeypatch):
    from wfbt.cli import _list

    monkeypatch.chdir(REPO)
    assert main(["list"]) == 0
    assert "strategies/momentum_filter.py:MomentumFilter" in capsys.readouterr().out
    narrow = Console(width=80, record=True)
    _list(narrow)  # long plugin names are never cut to "strategies/mom…"
    listed = narrow.export_text()
    assert "strategies/momentum_filter.py:MomentumFilter" in listed and "…" not in listed


# ---------------------------------------------------------------- 14, 15, 16: version, help, flags


def test_the_version_is_the_installed_one(capsys):
    assert wfbt.__version__ == importlib.metadata.version("wfbt")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"wfbt {wfbt.__version__}"


def test_run_help_states_both_path_rules(capsys):
    assert main(["run", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "looked up next to CONFIG first, then in the working directory" in help_text
    assert "relative to the working directory" in help_text.split("run directory")[-1]


def test_max_splits_errors_name_the_flag(tmp_path, tiny_data, capsys):
    config = str(write_config(tmp_path, tiny_data))
    for bad in ("0", "-3", "two"):
        error = " ".join(_error(capsys, ["run", config, "--max-splits", bad]).split("error:")[1].split())
        assert "argument --max-splits:" in error and "--set" not in error


# ---------------------------------------------------------------- 17, 18: docs and packaging


def test_quick_toml_says_how_many_splits_it_runs():
    from wfbt.config import load_config
    from wfbt.splits import split_plan

    path = REPO / "experiments" / "quick.toml"
    said = int(re.search(r"on (\d+) splits", path.read_text()).group(1))
    config = load_config(path)
    prices = load_prices(config.data, config.base_dirs, 210)
    assert len(split_plan(len(prices), config.splits)) == said


def test_the_docs_agree_on_the_reference_figures_and_files():
    readme = (REPO / "README.md").read_text()
    configuration = (REPO / "docs" / "configuration.md").read_text()
    medians = {m for doc in (readme, configuration) for m in re.findall(r"median[^.]*?\bMSE\b[^0-9]*(0\.\d+)", doc, re.I)}
    assert medians == {"0.0034"}, medians
    for name in ("splits.csv", "predictions.csv", "test_predictions.csv", "pnl_splits.csv", "equity.csv"):
        assert f"`{name}`" in readme
    performance = (REPO / "docs" / "performance.md").read_text()
    assert len(performance.splitlines()) < 120 and "performance-log.md" in performance
    assert (REPO / "docs" / "performance-log.md").is_file()


def test_the_license_is_an_spdx_string():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in pyproject["build-system"]["requires"])
