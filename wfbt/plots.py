"""The figures of a run (matplotlib, drawn off-screen), each from a `RunData` only.

Every function returns a `matplotlib.figure.Figure` (or None when the run has nothing to show,
e.g. no strategy); `write_plots` saves them as `RUN_DIR/plots/<name>.png`. Figures are made
without pyplot: no global state, nothing left open, no display needed, and a notebook shows a
returned figure as it is. docs/reports.md says what to read in each.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import matplotlib.dates as mdates
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
import numpy as np
import polars as pl
from matplotlib.figure import Figure

from wfbt.diagnostics import acf, default_lags, ljung_box, stitched_residuals
from wfbt.evaluation import gaussian_z
from wfbt.pnl import one_forecast_per_date
from wfbt.rundata import RunData, as_dates
from wfbt.rundir import write_bytes_atomic

WIDTH = 10.0  # inches; at DPI pixels a figure is 1,000 wide: a laptop screen, or a printed page
DPI = 100
MODEL, ACTUAL, NAIVE, BAND = "#1f5fa8", "#222222", "#d9822b", "#1f5fa8"
BASELINE_COLORS = ("#d9822b", "#6a9f3a", "#8e5ea2", "#c23b3b", "#5b8c8c", "#999999")


def _figure(height: float = 4.5) -> Figure:
    return Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")


def _dates_axis(ax) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _unit(run: RunData) -> str:
    target = run.summary.get("data", {}).get("target")
    return f"{target}, price units" if target else "price units"


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _title(figure: Figure, title: str, subtitle: str = "") -> None:
    figure.suptitle(title + (f"\n{subtitle}" if subtitle else ""), fontsize=12, x=0.01, ha="left")


def _log_if_positive(ax, *arrays: np.ndarray) -> None:
    values = np.concatenate([_finite(a) for a in arrays]) if arrays else np.array([])
    if len(values) and (values > 0).all() and values.max() / values.min() > 20:
        _log_scale(ax, values.max() / values.min())


def _log_scale(ax, spread: float) -> None:
    """A log y axis labelled 0.5, 1, 2 rather than 5x10^-1, with ticks at 1-2-5 (or every digit)
    when it spans a few decades or less."""
    ax.set_yscale("log")
    subs = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0) if spread < 4 else (1.0, 2.0, 5.0) if spread < 300 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def p_text(p_value: float) -> str:
    """A p-value as text: tiny ones as a bound (the chi-squared tail underflows to 0)."""
    return "p < 1e-16" if p_value < 1e-16 else f"p = {p_value:.3g}"


def _rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    return pl.Series(values).rolling_median(window_size=window, center=True, min_samples=1).to_numpy()


def _window(n: int) -> int:
    """A rolling window of about a twentieth of the series, at least 5 points."""
    return max(5, n // 20)


# ------------------------------------------------------------------------ per-split errors


def error_distribution(run: RunData) -> Figure | None:
    """Box plots of per-split validation RMSE (price units), model then each baseline; under each
    baseline the share of splits where the model's RMSE is lower."""
    splits = run.splits
    model = splits["val_rmse_price"].to_numpy()
    boxes, labels = [_finite(model)], ["model"]
    for name in run.baselines:
        column = f"{name}_val_rmse_price"
        if column not in splits.columns:
            continue
        baseline = splits[column].to_numpy()
        both = np.isfinite(model) & np.isfinite(baseline)
        share = float((model[both] < baseline[both]).mean()) if both.any() else float("nan")
        boxes.append(_finite(baseline))
        labels.append(f"{name}\nmodel wins {share:.0%}")
    if not len(boxes[0]):
        return None
    figure = _figure(4.8)
    ax = figure.subplots()
    parts = ax.boxplot(boxes, tick_labels=labels, showfliers=True, widths=0.55, patch_artist=True,
                       medianprops={"color": ACTUAL}, flierprops={"markersize": 2, "alpha": 0.4})
    for patch, color in zip(parts["boxes"], (MODEL, *BASELINE_COLORS), strict=False):
        patch.set_facecolor(color)
        patch.set_alpha(0.55)
    for position, values in enumerate(boxes, start=1):
        if len(values):
            median = float(np.median(values))
            ax.annotate(f"median {median:.3g}", (position + 0.3, median), fontsize=8, va="center")
    _log_if_positive(ax, *boxes)
    ax.set_ylabel(f"validation RMSE per split ({_unit(run)})")
    ax.grid(axis="y", alpha=0.3)
    _title(figure, f"Per-split validation RMSE: model vs baselines ({len(boxes[0]):,} splits)",
           "Box: quartiles; whiskers: 1.5 IQR; 'model wins': share of splits where the model's RMSE is lower")
    return figure


def errors_over_time(run: RunData) -> Figure | None:
    """Per-split validation RMSE by the split's first validation date, model vs naive, with
    rolling medians; below, the rolling median of the ratio model / naive (below 1: model better)."""
    splits = run.splits
    dates = as_dates(splits["val_start"])
    model = splits["val_rmse_price"].to_numpy()
    if not np.isfinite(model).any():
        return None
    window = _window(len(model))
    has_naive = "naive_val_rmse_price" in splits.columns
    figure = _figure(6.0 if has_naive else 4.5)
    axes = figure.subplots(2 if has_naive else 1, 1, sharex=True, squeeze=False,
                           height_ratios=[2, 1] if has_naive else None)[:, 0]
    ax = axes[0]
    series = [("model", model, MODEL)]
    if has_naive:
        series.append(("naive", splits["naive_val_rmse_price"].to_numpy(), NAIVE))
    for name, values, color in series:
        ax.scatter(dates, values, s=4, alpha=0.25, color=color, linewidths=0)
        ax.plot(dates, _rolling_median(values, window), color=color, lw=1.8, label=f"{name}: rolling median")
    _log_if_positive(ax, *(values for _, values, _ in series))
    ax.set_ylabel(f"validation RMSE\n({_unit(run)})")
    ax.legend(loc="upper left", fontsize=9)
    ax.grid(alpha=0.3)
    if has_naive:
        smooth = np.exp(_rolling_median(np.log(model / series[1][1]), window))
        axes[1].plot(dates, smooth, color=MODEL, lw=1.5)
        axes[1].axhline(1.0, color=ACTUAL, lw=0.8, ls="--")
        shown = np.append(_finite(smooth), 1.0)
        _log_scale(axes[1], float(shown.max() / shown.min()))
        axes[1].set_ylabel("RMSE ratio\nmodel / naive")
        axes[1].grid(alpha=0.3)
    axes[-1].set_xlabel("first validation date of the split")
    _dates_axis(axes[-1])
    _title(figure, "Per-split validation RMSE over time" + (", model vs naive" if has_naive else ""),
           f"dots: one split each; lines: rolling median over {window} splits"
           + ("; ratio below 1: the model beat naive" if has_naive else ""))
    return figure


# ------------------------------------------------------------------------ forecasts


def _whole_and_last(n: int, last: int) -> tuple[Figure, list[tuple[object, slice, bool]]]:
    """A figure with the whole series and, below, its last `last` points: (axes, rows, zoomed)
    per panel. A series no longer than `last` gets one panel."""
    if n <= last:
        figure = _figure(4.5)
        return figure, [(figure.subplots(), slice(None), True)]
    figure = _figure(6.5)
    top, bottom = figure.subplots(2, 1, height_ratios=[3, 2])
    bottom.set_title(f"last {last} points", fontsize=10, loc="left")
    return figure, [(top, slice(None), False), (bottom, slice(n - last, None), True)]


def forecast_vs_actual(run: RunData, last: int = 120) -> Figure | None:
    """The stitched out-of-sample forecasts (what the P&L trades) against the actual price; below,
    the last `last` points."""
    if run.test_predictions is None or run.test_predictions.height == 0:
        return None
    stitched = one_forecast_per_date(run.test_predictions)
    dates, actual, forecast = as_dates(stitched["date"]), stitched["actual"].to_numpy(), stitched["forecast"].to_numpy()
    figure, panels = _whole_and_last(len(dates), last)
    for ax, part, zoomed in panels:
        marker = "." if zoomed else None
        ax.plot(dates[part], actual[part], color=ACTUAL, lw=1.0, marker=marker, ms=3, label="actual")
        ax.plot(dates[part], forecast[part], color=MODEL, lw=1.0, alpha=0.85, marker=marker, ms=3,
                label="forecast (out of sample)")
        ax.set_ylabel(_unit(run))
        ax.grid(alpha=0.3)
        _dates_axis(ax)
    panels[0][0].legend(loc="upper left", fontsize=9)
    if len(panels) == 2:
        panels[0][0].axvspan(dates[-last], dates[-1], color=BAND, alpha=0.08)
    panels[-1][0].set_xlabel("date")
    _title(figure, f"Out-of-sample forecast vs actual ({len(dates):,} dates)",
           "each date forecast by the latest split that had not seen it (after its validation window)")
    return figure


def intervals(run: RunData, last: int = 120) -> Figure | None:
    """With loss = "gaussian_nll": the one-step validation forecasts with 80 % and 95 % Gaussian
    intervals and the share of actual values inside each."""
    if "forecast_std" not in run.predictions.columns:
        return None
    predictions = run.predictions
    if "horizon" in predictions.columns:  # [model] horizon > 1: the one-step forecasts
        predictions = predictions.filter(pl.col("horizon") == 1)
    first = predictions.group_by("split", maintain_order=True).first()  # each split's one-step forecast
    stitched = one_forecast_per_date(first).filter(pl.col("forecast_std").is_finite())
    if stitched.height == 0:
        return None
    dates = as_dates(stitched["date"])
    actual, mean, std = (stitched[c].to_numpy() for c in ("actual", "forecast", "forecast_std"))
    inside = {level: float((np.abs(actual - mean) <= gaussian_z(level) * std).mean()) for level in (0.8, 0.95)}
    figure, panels = _whole_and_last(len(dates), last)
    for ax, part, zoomed in panels:
        for level, alpha in ((0.95, 0.15), (0.8, 0.3)):
            half = gaussian_z(level) * std[part]
            ax.fill_between(dates[part], mean[part] - half, mean[part] + half, color=BAND, alpha=alpha, lw=0,
                            label=f"{level:.0%} interval: {inside[level]:.1%} of actuals inside")
        ax.plot(dates[part], mean[part], color=MODEL, lw=1.0, label="forecast mean")
        ax.plot(dates[part], actual[part], color=ACTUAL, lw=0.9, marker="." if zoomed else None, ms=3,
                label="actual")
        ax.set_ylabel(_unit(run))
        ax.grid(alpha=0.3)
        _dates_axis(ax)
    panels[0][0].legend(loc="upper left", fontsize=9)
    panels[-1][0].set_xlabel("date")
    _title(figure, "Gaussian forecast intervals, one-step validation forecasts",
           f"{len(dates):,} dates; a calibrated model has about 80 % and 95 % of actuals inside")
    return figure


# ------------------------------------------------------------------------ training


def loss_curves(run: RunData) -> Figure | None:
    """Median and interquartile band of the training and validation loss per epoch over splits;
    right, how many splits kept each epoch's weights (early stopping's choice)."""
    bands = run.summary.get("curves")
    if not bands or not bands.get("epoch"):
        return None
    figure = _figure(4.5)
    left, right = figure.subplots(1, 2, width_ratios=[3, 2])
    epochs = np.asarray(bands["epoch"], dtype=float)
    for name, label, color in (("train_loss", "training", MODEL), ("val_loss", "validation", NAIVE)):
        median, q25, q75 = (np.asarray(bands[f"{name}_{q}"], dtype=float) for q in ("median", "q25", "q75"))
        left.fill_between(epochs, q25, q75, color=color, alpha=0.2, lw=0)
        left.plot(epochs, median, color=color, marker="o", ms=3, label=f"{label}: median, 25-75 % band")
    _log_if_positive(left, *(np.asarray(bands[f"{n}_{q}"], dtype=float)
                             for n in ("train_loss", "val_loss") for q in ("q25", "q75")))
    loss = run.summary.get("model", {}).get("loss", "mse")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("epoch")
    left.set_ylabel(f"loss ({loss}, scaled units)")
    left.legend(fontsize=9)
    left.grid(alpha=0.3)
    best = _finite(run.splits["best_epoch"].to_numpy()).astype(int)
    if len(best):
        counts = np.bincount(best, minlength=int(epochs.max()) + 1 if len(epochs) else 1)
        right.bar(np.arange(len(counts))[1:], counts[1:], color=MODEL, alpha=0.7)
        right.axvline(float(np.median(best)), color=ACTUAL, ls="--", lw=1, label=f"median {np.median(best):g}")
        right.legend(fontsize=9)
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("best epoch (weights kept)")
    right.set_ylabel("splits")
    right.grid(axis="y", alpha=0.3)
    _title(figure, f"Loss curves over {run.splits.height:,} splits, and the epoch early stopping kept",
           "validation rising while training falls: overfitting; best epochs piled at the last epoch: "
           "more epochs would help")
    return figure


# ------------------------------------------------------------------------ residuals


def residuals(run: RunData) -> Figure | None:
    """Residuals (actual - forecast) of the stitched out-of-sample forecasts: over time, their
    histogram against a fitted normal, and their autocorrelation with 95 % bands."""
    if run.test_predictions is None or run.test_predictions.height == 0:
        return None
    stitched = stitched_residuals(run.test_predictions)
    residual = stitched["residual"].to_numpy()
    n = len(residual)
    if n < 3:
        return None
    dates = as_dates(stitched["date"])
    figure = _figure(6.5)
    axes = figure.subplot_mosaic([["time", "time"], ["hist", "acf"]])
    ax = axes["time"]
    ax.plot(dates, residual, color=MODEL, lw=0.7)
    ax.axhline(0.0, color=ACTUAL, lw=0.8)
    ax.set_ylabel(f"residual\n({_unit(run)})")
    ax.grid(alpha=0.3)
    _dates_axis(ax)
    mean, std = float(residual.mean()), float(residual.std(ddof=1))
    ax = axes["hist"]
    ax.hist(residual, bins=min(60, max(10, n // 15)), density=True, color=MODEL, alpha=0.6)
    if std > 0:
        grid = np.linspace(residual.min(), residual.max(), 200)
        ax.plot(grid, np.exp(-0.5 * ((grid - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi)), color=ACTUAL,
                lw=1.2, label=f"normal, mean {mean:.3g}, sd {std:.3g}")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"residual ({_unit(run)})")
    ax.set_ylabel("density")
    ax = axes["acf"]
    nlags = int(min(40, n - 1))
    r = acf(residual, nlags)[1:]
    lags = np.arange(1, nlags + 1)
    ax.vlines(lags, 0, r, color=MODEL, lw=2)
    bound = 1.96 / np.sqrt(n)
    ax.axhspan(-bound, bound, color=NAIVE, alpha=0.2, lw=0, label="95 % band of white noise")
    ax.axhline(0.0, color=ACTUAL, lw=0.8)
    ax.set_xlabel("lag (points)")
    ax.set_ylabel("autocorrelation")
    ax.legend(fontsize=8)
    test = ljung_box(residual, default_lags(n))
    _title(figure, f"Residuals of the out-of-sample forecasts ({n:,} dates)",
           f"Ljung-Box over {test['lags']} lags: Q = {test['statistic']:.3g}, {p_text(test['p_value'])} "
           "(small p: the residuals still hold structure)")
    return figure


# ------------------------------------------------------------------------ strategy


def equity(run: RunData, log: bool = True) -> Figure | None:
    """With a strategy: equity against buy-and-hold (log scale by default), drawdowns, and the
    rolling 6-month Sharpe ratio of both."""
    if run.equity is None or run.equity.height == 0:
        return None
    frame = run.equity
    dates = as_dates(frame["date"])
    strategy = frame["strategy_equity"].to_numpy()
    held = frame["buy_hold_equity"].to_numpy()
    per_year = float((run.summary.get("strategy") or {}).get("periods_per_year") or 252.0)
    window = max(2, int(round(per_year / 2)))
    name = (run.summary.get("strategy") or {}).get("name", "strategy")
    figure = _figure(7.5)
    top, middle, bottom = figure.subplots(3, 1, sharex=True, height_ratios=[3, 1.3, 1.3])
    for values, label, color in ((strategy, f"strategy ({name})", MODEL), (held, "buy and hold", ACTUAL)):
        top.plot(dates, values, color=color, lw=1.1, label=label)
        middle.plot(dates, values / np.maximum.accumulate(values) - 1.0, color=color, lw=0.9)
        returns = np.diff(np.concatenate([[1.0], values])) / np.concatenate([[1.0], values[:-1]])
        series = pl.Series(returns)
        sharpe = (series.rolling_mean(window) / series.rolling_std(window) * np.sqrt(per_year)).to_numpy()
        bottom.plot(dates, sharpe, color=color, lw=0.9)
    if log and (strategy > 0).all() and (held > 0).all():
        both = np.concatenate([strategy, held])
        _log_scale(top, float(both.max() / both.min()))
    top.axhline(1.0, color="#888888", lw=0.6)
    top.set_ylabel("equity (start = 1" + (", log scale)" if top.get_yscale() == "log" else ")"))
    top.legend(loc="upper left", fontsize=9)
    middle.set_ylabel("drawdown")
    middle.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    bottom.axhline(0.0, color="#888888", lw=0.6)
    bottom.set_ylabel(f"Sharpe, rolling\n{window} periods")
    bottom.set_xlabel("date")
    for ax in (top, middle, bottom):
        ax.grid(alpha=0.3)
    _dates_axis(bottom)
    _title(figure, f"Strategy vs buy-and-hold on the out-of-sample forecasts ({len(dates):,} dates, after costs)",
           f"Sharpe annualised with {per_year:g} periods per year; rolling window about 6 months")
    return figure


# ------------------------------------------------------------------------ all of them

# ------------------------------------------------------------------------ importance


def importance(run: RunData) -> Figure | None:
    """Per input, the distribution over splits of its permutation importance (validation MSE
    increase when its column is shuffled, scaled units), inputs sorted by mean delta, largest on top."""
    table = run.importance
    if table is None or table.height == 0:
        return None
    names = table["feature"].unique(maintain_order=True).to_list()
    deltas = {name: _finite(table.filter(pl.col("feature") == name)["delta"].to_numpy()) for name in names}
    names = [n for n in names if len(deltas[n])]
    if not names:
        return None
    names.sort(key=lambda n: float(np.mean(deltas[n])))  # boxplot draws from the bottom: largest mean on top
    figure = _figure(max(3.0, 1.2 + 0.42 * len(names)))
    ax = figure.subplots()
    parts = ax.boxplot([deltas[n] for n in names], orientation="horizontal", tick_labels=names, widths=0.6,
                       patch_artist=True, showfliers=True, medianprops={"color": ACTUAL},
                       flierprops={"markersize": 2, "alpha": 0.4})
    for patch in parts["boxes"]:
        patch.set_facecolor(MODEL)
        patch.set_alpha(0.45)
    means = [float(np.mean(deltas[n])) for n in names]
    ax.scatter(means, np.arange(1, len(names) + 1), marker="D", s=18, color=NAIVE, zorder=3, label="mean")
    for position, name in enumerate(names, start=1):
        share = float((deltas[name] > 0).mean())
        ax.annotate(f"> 0 in {share:.0%}", (1.0, position), xycoords=("axes fraction", "data"), xytext=(4, 0),
                    textcoords="offset points", fontsize=8, va="center")
    ax.axvline(0.0, color=ACTUAL, lw=1, ls="--")
    ax.set_xlabel("validation MSE increase with the input shuffled (scaled units of the target)")
    ax.legend(fontsize=9, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    repeats = run.summary.get("importance", {}).get("repeats")
    _title(figure, f"Permutation importance of each input over {table['split'].n_unique():,} splits",
           "Per split: mean over " + (f"{repeats} " if repeats else "") +
           "shuffles of the input across its validation samples; near 0: not used")
    return figure


FIGURES: dict[str, Callable[[RunData], Figure | None]] = {
    "errors": error_distribution,
    "errors_over_time": errors_over_time,
    "forecast": forecast_vs_actual,
    "loss_curves": loss_curves,
    "residuals": residuals,
    "intervals": intervals,
    "equity": equity,
    "importance": importance,
}


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def render_all(run: RunData) -> dict[str, bytes]:
    """Every figure the run has, as PNG bytes, by name (the order of `FIGURES`)."""
    images = {}
    for name, draw in FIGURES.items():
        figure = draw(run)
        if figure is not None:
            images[name] = png(figure)
    return images


def write_plots(images: dict[str, bytes], folder: Path) -> list[Path]:
    """Save the images as `folder/<name>.png`; a plot an earlier version of the run had and this
    one has not (e.g. equity after the strategy was removed) is deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:
        if name not in images:
            (folder / f"{name}.png").unlink(missing_ok=True)
    paths = []
    for name, payload in images.items():
        path = folder / f"{name}.png"
        write_bytes_atomic(path, payload)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------ several runs


def compare_errors(runs: list[RunData]) -> Figure | None:
    """The per-split validation RMSE of several runs' models, overlaid (log-spaced bins)."""
    values = {run.name: _finite(run.splits["val_rmse_price"].to_numpy()) for run in runs}
    everything = np.concatenate(list(values.values())) if values else np.array([])
    everything = everything[everything > 0]
    if not len(everything):
        return None
    figure = _figure(4.5)
    ax = figure.subplots()
    bins = np.geomspace(everything.min(), everything.max(), 40) if everything.max() > everything.min() else 10
    for (name, rmse), color in zip(values.items(), (MODEL, *BASELINE_COLORS) * len(values), strict=False):
        positive = rmse[rmse > 0]
        ax.hist(positive, bins=bins, weights=np.full(len(positive), 1 / max(len(positive), 1)), histtype="step",
                lw=1.6, color=color, label=f"{name}: median {np.median(rmse):.3g} ({len(rmse):,} splits)")
    if isinstance(bins, np.ndarray):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xlabel("validation RMSE per split (price units)")
    ax.set_ylabel("share of the run's splits")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0%}"))
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    _title(figure, "Per-split validation RMSE of each run's model, overlaid (share of each run's splits per bin)")
    return figure


def compare_equity(runs: list[RunData], log: bool = True) -> Figure | None:
    """The strategies' equity curves of several runs together, with the first one's buy-and-hold."""
    traded = [run for run in runs if run.equity is not None and run.equity.height]
    if not traded:
        return None
    figure = _figure(4.8)
    ax = figure.subplots()
    everything = []
    for run, color in zip(traded, (MODEL, *BASELINE_COLORS) * len(traded), strict=False):
        values = run.equity["strategy_equity"].to_numpy()
        ax.plot(as_dates(run.equity["date"]), values, color=color, lw=1.1, label=run.name)
        everything.append(values)
    held = traded[0].equity["buy_hold_equity"].to_numpy()
    ax.plot(as_dates(traded[0].equity["date"]), held, color=ACTUAL, lw=1.0, ls="--",
            label=f"buy and hold ({traded[0].name}'s dates)")
    everything = np.concatenate([*everything, held])
    if log and (everything > 0).all():
        _log_scale(ax, float(everything.max() / everything.min()))
    ax.axhline(1.0, color="#888888", lw=0.6)
    ax.set_ylabel("equity (start = 1" + (", log scale)" if ax.get_yscale() == "log" else ")"))
    ax.set_xlabel("date")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    _dates_axis(ax)
    _title(figure, "Strategy equity of each run, after costs (out-of-sample forecasts)")
    return figure
