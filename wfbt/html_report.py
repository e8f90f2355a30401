"""`RUN_DIR/report.html` and the `wfbt compare --html` page: one self-contained file each.

Images are embedded as base64 PNG, the style sheet is inline and there is no script, so a page
opens from a USB stick with no network and no console errors. Like `report.py`, the page renders
what was saved (`RunData`: summary.json and the CSVs) and computes only the figures and the
residual test (`wfbt.diagnostics`), so `wfbt report RUN_DIR` rebuilds it without training.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfbt import __version__, plots
from wfbt.diagnostics import dm_between_runs, residual_summary
from wfbt.errors import UserError
from wfbt.report import (COMPARED_TITLES, FIGURE_LABELS, PRICE, STATS, compare_rows, fmt, format_figure, horizon_rows,
                         next_forecast_text)
from wfbt.rundata import CSV_FILES, RunData, read_run
from wfbt.rundir import write_text_atomic

CAPTIONS = {
    "errors": "Per-split validation RMSE of the model and of each baseline on the same splits. "
              "'model wins': the share of splits where the model's RMSE is lower.",
    "errors_over_time": "The same errors by the split's first validation date, model against naive, "
                        "with rolling medians: when in time the model did better or worse.",
    "forecast": "The out-of-sample forecasts the P&L trades (each date from the latest split that had not "
                "seen it), against the actual price; below, the last 120 points.",
    "loss_curves": "Training and validation loss per epoch (median and interquartile band over splits), "
                   "and the epoch whose weights early stopping kept.",
    "residuals": "Residuals of the out-of-sample forecasts over time, their histogram against a fitted "
                 "normal, and their autocorrelation with the 95 % band of white noise.",
    "intervals": "Gaussian 80 % and 95 % intervals of the one-step validation forecasts, and the share "
                 "of actual values inside each.",
    "equity": "The strategy's equity against buy-and-hold, its drawdowns, and the rolling 6-month Sharpe ratio.",
    "compare_errors": "Each run's per-split validation RMSE, overlaid.",
    "compare_equity": "Each run's strategy equity, with buy-and-hold.",
}

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1060px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin-top: 0; }
.verdict { padding: 10px 14px; border-left: 5px solid #888; background: #f6f6f6; margin: 16px 0; }
.verdict.good { border-color: #2e7d32; background: #eef7ee; }
.verdict.bad { border-color: #c62828; background: #fbeeee; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e4e4e4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
table.facts td { text-align: left; }
figure { margin: 12px 0 28px; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.93em; }
footer { color: #888; font-size: 0.85em; margin-top: 3em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(caption: str, header: Sequence[str], rows: Iterable[Sequence[Any]], css: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    klass = f' class="{css}"' if css else ""
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    return f"<table{klass}><caption>{_e(caption)}</caption>{thead}<tbody>{body}</tbody></table>"


def _figure(name: str, payload: bytes, title: str) -> str:
    data = base64.b64encode(payload).decode("ascii")
    return (f'<figure id="{_e(name)}"><img alt="{_e(title)}" width="{int(plots.WIDTH * plots.DPI)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_e(CAPTIONS.get(name, ""))}</figcaption></figure>')


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>{body}"
            f"<footer>made by wfbt {_e(__version__)} on {dt.date.today().isoformat()}</footer></body></html>\n")


def _p(p_value: float | None) -> str:
    """A p-value; one the chi-squared tail rounds to 0 shown as a bound."""
    return "< 1e-16" if isinstance(p_value, float) and p_value < 1e-16 else fmt(p_value)


def _get(mapping: Mapping[str, Any] | None, *keys: str) -> Any:
    """A nested key of the summary, or None (older summaries lack newer keys)."""
    for key in keys:
        if not isinstance(mapping, Mapping) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


# ------------------------------------------------------------------------ one run


def verdict(summary: Mapping[str, Any], level: float = 0.05) -> tuple[str, str]:
    """(css class, sentence): does the model beat the naive forecast, by the Diebold-Mariano test
    on the out-of-sample forecasts (on the validation ones for summaries that lack those)."""
    test, where = _get(summary, "dm_test_after_validation", "naive"), "out-of-sample forecasts, after validation"
    if test is None:
        test, where = _get(summary, "dm_test", "naive"), "one-step validation forecasts"
    if test is None:
        return "", "The run was not compared with the naive forecast."
    statistic, p_value, n = test.get("statistic"), test.get("p_value"), test.get("n")
    share = _get(summary, "model_beats_share", "naive")
    wins = f" It has the lower validation error on {share:.0%} of the splits." if isinstance(share, float) else ""
    figures = f"(Diebold-Mariano {fmt(statistic)}, p {fmt(p_value)}, {fmt(n)} {where})"
    if p_value is None or p_value != p_value:
        return "", f"No test result against the naive forecast {figures}.{wins}"
    if p_value < level and statistic < 0:
        return "good", f"The model beats the naive last-value forecast {figures}.{wins}"
    if p_value < level:
        return "bad", f"The model is worse than the naive last-value forecast {figures}.{wins}"
    return "", f"The model is not distinguishable from the naive forecast at {level:.0%} {figures}.{wins}"


def _facts(run: RunData) -> list[tuple[str, str]]:
    s = run.summary
    data, splits, model = s.get("data", {}), s.get("splits", {}), s.get("model", {})
    rows = [
        ("data", f"{data.get('source')} · {data.get('target')} · {data.get('first_date')} .. "
                 f"{data.get('last_date')} ({fmt(data.get('rows'))} rows)"),
        ("splits", f"{fmt(splits.get('count'))} {splits.get('mode')} (train {splits.get('train')}, val "
                   f"{splits.get('val')}, step {splits.get('step')}, gap {splits.get('gap')}); failed "
                   f"{fmt(splits.get('failed'))}"),
        ("model", f"{model.get('name')}, loss {model.get('loss')}, up to {model.get('epochs')} epochs"
                  + (f"; horizon {s['horizons']['steps']}: the figures are of step 1, the per-step table of every step"
                     if s.get("horizons") else "")),
    ]
    device = s.get("device")
    if device:
        rows.append(("device", f"{device.get('count')} × {device.get('platform')} ({device.get('kind')})"))
    seconds = s.get("seconds", {})
    rate = s.get("splits_per_second")
    rows.append(("training", f"{fmt(seconds.get('training'))} s (compile {fmt(seconds.get('compile'))} s)"
                             + (f", {rate:,.1f} splits/s" if rate else "")))
    rows.append(("config", str(_get(s, "config", "file"))))
    return rows


def _comparison_tables(summary: Mapping[str, Any]) -> list[str]:
    parts = []
    compare = summary.get("compare") or {}
    for metric, title in COMPARED_TITLES.items():
        if metric in compare:
            parts.append(_table(title, ["forecaster", *STATS],
                                ([who, *(fmt(figures.get(stat)) for stat in STATS)]
                                 for who, figures in compare[metric].items())))
    if summary.get("dm_test"):
        after = summary.get("dm_test_after_validation") or {}
        rows = [[name, fmt(_get(summary, "model_beats_share", name)), fmt(test.get("statistic")),
                 fmt(test.get("p_value")), fmt(test.get("n")), fmt(_get(after, name, "statistic")),
                 fmt(_get(after, name, "p_value")), fmt(_get(after, name, "n"))]
                for name, test in summary["dm_test"].items()]
        parts.append(_table("Diebold-Mariano on squared errors (negative: the model is better)",
                            ["baseline", "splits model beats", "DM validation", "p", "points", "DM after validation",
                             "p after", "points after"], rows))
    return parts


def report_page(run: RunData, images: Mapping[str, bytes], residuals: Mapping[str, Any] | None) -> str:
    s = run.summary
    css, sentence = verdict(s)
    body = [f"<h1>{_e(run.name)}: walk-forward backtest</h1>",
            f'<p class="sub">{_e(_get(s, "data", "source"))} · {_e(_get(s, "data", "target"))} · '
            f'{_e(fmt(_get(s, "splits", "count")))} splits</p>',
            f'<p class="verdict {css}">{_e(sentence)}</p>']
    strategy = s.get("strategy")
    if strategy:
        body.append(f"<p>Trading the forecasts with <b>{_e(strategy.get('name'))}</b> returned "
                    f"{_e(format_figure('total_return', _get(strategy, 'figures', 'total_return')))} against "
                    f"{_e(format_figure('total_return', _get(strategy, 'buy_hold', 'total_return')))} for "
                    f"buy-and-hold, after costs.</p>")
    body.append("<h2>Run</h2>" + _table("Facts", [], _facts(run), css="facts"))
    body.append("<h2>Figures</h2>")
    body.append("<p>" + " · ".join(f'<a href="#{_e(name)}">{_e(name.replace("_", " "))}</a>' for name in images)
                + "</p>")
    body.extend(_figure(name, payload, name.replace("_", " ")) for name, payload in images.items())
    body.append("<h2>Tables</h2>")
    if s.get("pooled"):
        body.append(_table("Pooled over all validation points (price units)", list(s["pooled"]),
                           [[fmt(v) for v in s["pooled"].values()]]))
    validation = _get(s, "describe", "val") or {}
    metrics = [m for m in PRICE if m in validation]
    if metrics:
        body.append(_table("Per-split validation metrics (price units; MAPE in %)", ["", *metrics],
                           ([stat, *(fmt(validation[m].get(stat)) for m in metrics)] for stat in STATS)))
    body.append("<h2>Model against baselines</h2>")
    body.extend(_comparison_tables(s))
    if residuals:
        test = residuals["ljung_box"]
        body.append(_table("Residuals of the out-of-sample forecasts", ["dates", "mean", "sd", "Ljung-Box lags",
                                                                       "Q", "p-value"],
                           [[fmt(residuals["points"]), fmt(residuals["mean"]), fmt(residuals["std"]),
                             fmt(test["lags"]), fmt(test["statistic"]), _p(test["p_value"])]]))
    if "horizons" in s:
        headers, rows = horizon_rows(s)
        body.append(_table("Per forecast step: median validation RMSE (price); Diebold-Mariano after "
                           "validation, HLN for h = step", headers, rows))
    if "coverage" in s:
        body.append(_table("Gaussian interval coverage on validation points", ["interval", "share inside"],
                           ([level, fmt(share)] for level, share in s["coverage"].items())))
    if s.get("importance"):
        ranked = s["importance"]
        body.append(_table(f"Input importance: validation MSE increase (scaled) with the input shuffled, mean of "
                           f"{ranked.get('repeats')} shuffles per split; '> 0': share of splits where it hurt",
                           ["input", "splits", "mean", "std", "25%", "50%", "75%", "> 0"],
                           ([row["feature"], fmt(row["count"]), *(fmt(row[k]) for k in ("mean", "std", "25%", "50%",
                                                                                         "75%")),
                             fmt(row["positive_share"])] for row in ranked.get("features", []))))
    if strategy:
        body.append("<h2>Strategy</h2>")
        params = ", ".join(f"{k}={v}" for k, v in (strategy.get("params") or {}).items())
        body.append(_table(f"P&L of {strategy.get('name')}({params}), out of sample, after costs "
                           f"({fmt(strategy.get('cost_bps'))} bps)", ["figure", "strategy", "buy & hold"],
                           ([FIGURE_LABELS.get(name, name.replace("_", " ")), format_figure(name, value),
                             format_figure(name, _get(strategy, "buy_hold", name))]
                            for name, value in (strategy.get("figures") or {}).items())))
    if s.get("next_forecast"):
        body.append(f"<p>{_e(next_forecast_text(s['next_forecast']))}</p>")
    body.append("<h2>Files</h2>" + _links(run))
    return _page(f"wfbt report: {run.name}", "".join(body))


def _links(run: RunData) -> str:
    names = [name for name in (*CSV_FILES, "summary.json", "config.toml")
             if run.run_dir is None or (run.run_dir / name).is_file()]
    items = "".join(f'<li><a href="{_e(name)}">{_e(name)}</a></li>' for name in names)
    return f"<p>Beside this page in the run directory:</p><ul>{items}</ul>"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    plots: list[Path]
    residuals: dict[str, Any] | None
    seconds: float


def write_report(run_dir: str | Path) -> ReportFiles:
    """Read a finished run directory and (re)write `plots/*.png` and `report.html` in it."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    images = plots.render_all(run)
    paths = plots.write_plots(images, run_dir / "plots")
    residuals = residual_summary(run.test_predictions)
    page = run_dir / "report.html"
    write_text_atomic(page, report_page(run, images, residuals))
    return ReportFiles(page, paths, residuals, time.perf_counter() - started)


# ------------------------------------------------------------------------ several runs


def compare_page(runs: Sequence[RunData], tests: Sequence[Mapping[str, Any]]) -> str:
    """Headline figures side by side, errors overlaid, equity curves together, DM between runs."""
    body = [f"<h1>{len(runs)} runs compared</h1>",
            f'<p class="sub">{_e(", ".join(run.name for run in runs))}</p>']
    rows = compare_rows([(run.name, run.summary) for run in runs])
    body.append(_table("Headline figures", ["figure", *(run.name for run in runs)],
                       ([label, *values] for label, values in rows)))
    body.append(_table("Diebold-Mariano between runs, on the out-of-sample dates both forecast "
                       "(negative: run A's errors are smaller)", ["run A", "run B", "DM", "p-value", "dates", "result"],
                       ([t["a"], t["b"], fmt(t["statistic"]), fmt(t["p_value"]), fmt(t["n"]), t["note"]]
                        for t in tests)))
    for name, draw in (("compare_errors", plots.compare_errors), ("compare_equity", plots.compare_equity)):
        figure = draw(list(runs))
        if figure is not None:
            body.append(_figure(name, plots.png(figure), name.replace("_", " ")))
    for run in runs:
        css, sentence = verdict(run.summary)
        body.append(f'<p class="verdict {css}"><b>{_e(run.name)}</b>: {_e(sentence)}</p>')
    return _page("wfbt: runs compared", "".join(body))


def compare_runs(run_dirs: Sequence[str | Path]) -> tuple[list[RunData], list[dict[str, Any]]]:
    """Read several run directories (named by folder, or by path when two folders share a name)
    and test their out-of-sample forecasts against each other."""
    runs = [read_run(d) for d in run_dirs]
    for run, folder in zip(runs, run_dirs):
        if "tickers" in run.summary:  # its tables hold several series: compare one ticker's run directory
            raise UserError(f"{folder}: a run of {len(run.summary['tickers'])} tickers; compare its tickers' own run "
                            f"directories, e.g. {Path(folder) / 'tickers' / run.summary['tickers'][0]}.")
    names = [run.name for run in runs]
    if len(set(names)) < len(names):
        runs = [dataclasses.replace(run, name=str(d)) for run, d in zip(runs, run_dirs, strict=True)]
    tests = dm_between_runs([(run.name, run.test_predictions) for run in runs])
    return runs, tests

