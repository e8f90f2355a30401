"""`wfbt` command line: a thin shell over `wfbt.api`.

Exit codes: 0 success, 2 a user error (one readable line, no traceback), 1 a bug, 130 interrupted,
141 a reader that stopped reading (`wfbt report RUN | head`), as for any CLI killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from wfbt import __version__
from wfbt.errors import UserError

EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a CLI whose reader went away

PATH_RULES = (
    "Paths: a relative [data] source or strategy file is looked up next to CONFIG first, then in the working "
    "directory; the run directory (--out, [output] dir, or runs/<config name>) is relative to the "
    "working directory."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: also exit 2, one line
        self.print_usage(sys.stderr)
        raise UserError(message)


def _at_least_one(text: str) -> int:
    """`--max-splits` checked here, so its error names the flag the user typed."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wfbt", description="Walk-forward backtests of sequence models.")
    parser.add_argument("--version", action="version", version=f"wfbt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run an experiment (resumes an interrupted one)",
                              description="Run an experiment; an interrupted one resumes from its saved chunks.",
                              epilog=PATH_RULES)
    run.add_argument("config", metavar="CONFIG", help="experiment TOML file")
    run.add_argument("--out", metavar="DIR", help="run directory, relative to the working directory "
                                   "(default: [output] dir, or runs/<config name>)")
    run.add_argument("--max-splits", type=_at_least_one, metavar="N", help="train only the first N splits")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a config value, e.g. --set train.epochs=2 (repeatable)")
    run.add_argument("--overwrite", action="store_true", help="discard saved results of a different experiment")
    _add_ray(run)
    output = run.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="print only the run directory (and errors)")
    output.add_argument("--json", action="store_true", help="print only summary.json (no progress, no tables)")

    report = commands.add_parser("report", help="print a finished run's summary again and redraw its plots and HTML",
                                 description="Print a finished run's summary and rewrite RUN_DIR/plots/*.png and "
                                             "RUN_DIR/report.html from its saved files, without training.")
    report.add_argument("run_dir", metavar="RUN_DIR")
    shown = report.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="print only the path of report.html (and errors)")
    shown.add_argument("--json", action="store_true", help="print summary.json instead of the tables")
    compare = commands.add_parser("compare", help="put several runs side by side",
                                  description="Headline figures of several runs side by side, and Diebold-Mariano "
                                              "tests between their out-of-sample forecasts on the dates they share.")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    compare.add_argument("--html", metavar="FILE", help="also write a comparison page (self-contained HTML)")
    commands.add_parser("list", help="list models, strategies, baselines and sample data")
    _add_study_parsers(commands)
    predict = commands.add_parser("predict", help="forecast the next point with a run's saved models",
                                  description="Forecast the point after the data with the next-point models a run "
                                              "saved in RUN_DIR/model/ (docs/models.md).")
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("--data", metavar="FILE", help="a .csv or .parquet file with the run's columns "
                                                        "(default: the run's own data)")
    predict.add_argument("--json", action="store_true", help="print the forecast as JSON")
    inspect = commands.add_parser("inspect", help="print the data quality report of a config's data",
                                  description="Check a config's data (docs/data.md); exit 2 if a run would stop.")
    inspect.add_argument("config", metavar="CONFIG", help="experiment TOML file")
    inspect.add_argument("--features", metavar="FILE", help="write the model inputs (.csv or .parquet): "
                         "the date column, then one column per input")
    return parser


def _add_ray(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="train chunks on Ray actors: a local Ray instance, or ADDRESS "
                             "(auto, ray://host:port); the same as [engine] ray")


def _ray_override(args: argparse.Namespace) -> list[str]:
    return [f"engine.ray={json.dumps(args.ray)}"] if args.ray else []


def _add_study_parsers(commands) -> None:
    sweep = commands.add_parser("sweep", help="run every combination of a config's [sweep] lists",
                                description="Run every combination of the [sweep] table's lists; trials that "
                                            "differ only in per-split numbers train in one program.",
                                epilog=PATH_RULES)
    _add_study_options(sweep, "sweep", "with a [sweep] table", "discard saved trials of a different experiment")
    tune = commands.add_parser("tune", help="search a config's [tune.space] with Optuna, nested walk-forward",
                               description="Search [tune.space] on the tuning splits only, then run the best "
                                           "config once and report it on the holdout splits beside naive.",
                               epilog=PATH_RULES)
    _add_study_options(tune, "tuning", "with [tune] and [tune.space] tables", "start the study again from nothing")


def _add_study_options(parser: argparse.ArgumentParser, what: str, tables: str, overwrite: str) -> None:
    """The options `sweep` and `tune` share (those of `run`, over many experiments)."""
    parser.add_argument("config", metavar="CONFIG", help=f"experiment TOML file {tables}")
    parser.add_argument("--out", metavar="DIR", help=f"{what} directory (default: [output] dir, or runs/<config name>)")
    parser.add_argument("--max-splits", type=_at_least_one, metavar="N", help="use only the first N splits")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a base config value (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help=overwrite)
    _add_ray(parser)
    parser.add_argument("--quiet", action="store_true", help=f"print only the {what} directory (and errors)")


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """rich's own reaction is `SystemExit(1)`, an error exit; `main` returns 141 instead."""
        self.quiet = True
        raise BrokenPipeError


def main(argv: list[str] | None = None) -> int:
    # a pipe or a log file gets 120 columns instead of rich's 80, so wide tables are not cut
    console = _Console() if sys.stdout.isatty() else _Console(width=120)
    errors = Console(stderr=True)
    try:
        return _dispatch(argv, console, errors)
    except UserError as exc:
        errors.print(Text.assemble(("error:", "bold red"), " ", str(exc)), highlight=False, soft_wrap=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        errors.print("interrupted: finished chunks are saved; run the same command again to resume.")
        return 130
    except BrokenPipeError:
        # the reader (e.g. `head`) went away: not an error. Later writes, including the
        # interpreter's flush at exit, go to /dev/null so Python prints no complaint either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _dispatch(argv: list[str] | None, console: Console, errors: Console) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version: printed; an exit code, not an exception, for callers
        return exc.code if isinstance(exc.code, int) else 0
    if args.command == "run":
        return _run(args, console, errors)
    if args.command == "report":
        return _report(args, console)
    if args.command in ("sweep", "tune"):
        return _study(args, console, errors)
    if args.command == "predict":
        return _predict(args, console)
    if args.command == "inspect":
        return _inspect(args, console)
    if args.command == "compare":
        return _compare(args, console)
    return _list(console)


def _run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from wfbt import runtime

    runtime.configure_jax()
    from wfbt import api, html_report, report, tickers
    from wfbt.config import load_config

    overrides = list(args.set) + _ray_override(args)
    if args.max_splits is not None:
        overrides.append(f"splits.max_splits={args.max_splits}")
    config = load_config(args.config, overrides)
    found = tickers.resolve(config)
    several = len(found) > 1  # several tickers (docs/data.md): trained together, reported per ticker
    if several:
        from wfbt import ticker_report, ticker_run
    out_dir = api.run_directory(config, args.out)
    log = lambda note: errors.print(note, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    with runtime.progress_bar(console, enabled=not (args.quiet or args.json)) as update:
        if several:
            results = ticker_run.run_tickers(config, found, out_dir=out_dir, overwrite=args.overwrite, progress=update,
                                             log=log)
        else:
            results = api.run_experiment(tickers.single(config, found), out_dir=out_dir, overwrite=args.overwrite,
                                         progress=update, log=log)
    # drawn from the files just written, so `wfbt report` redraws exactly these
    files = (ticker_report if several else html_report).write_report(results.run_dir)
    if args.json:
        _print_json(results.run_dir / "summary.json")
    elif args.quiet:
        print(results.run_dir, flush=True)
    else:
        (ticker_report if several else report).print_summary(console, results.summary)
        (_print_ticker_files if several else _print_report_files)(console, files)
        console.print(Text.assemble("results in ", (str(results.run_dir), "bold")))
    return 0


def _print_ticker_files(console: Console, files) -> None:
    console.print(Text.assemble(f"{len(files.plots)} plots in ", (str(files.html.parent / "plots"), "bold"),
                                "; report ", (str(files.html), "bold"), " and one per ticker in ",
                                (str(files.html.parent / "tickers"), "bold"), f" ({files.seconds:.1f} s)"))


def _inspect(args: argparse.Namespace, console: Console) -> int:
    """`wfbt inspect CONFIG [--features FILE]`: the report; a run-stopping problem exits 2."""
    from wfbt import inspection, tickers
    from wfbt.config import load_config

    config = load_config(args.config)
    named = tickers.resolve(config)
    if len(named) > 1:
        return _inspect_tickers(args, console, config, named)
    config = tickers.single(config, named)
    found = inspection.inspect_config(config)
    for table in inspection.quality_tables(found):
        console.print(table)
    if found.problem:
        raise UserError(found.problem)
    if args.features:
        inspection.write_features(found.prices, Path(args.features), config.data.date_column)
        console.print(Text.assemble("features in ", (args.features, "bold")))
    return 0


def _inspect_tickers(args: argparse.Namespace, console: Console, config, named: list) -> int:
    """`wfbt inspect` of several tickers: each one's report under its name; exit 2 if any would stop."""
    from wfbt import inspection

    found = [(ticker.name, inspection.inspect_config(ticker.config)) for ticker in named]
    for name, one in found:
        console.print(Text.assemble("Ticker ", (name, "bold")))
        for table in inspection.quality_tables(one):
            console.print(table)
    problems = [f"ticker {name}: {one.problem}" for name, one in found if one.problem]
    if problems:
        more = f" (and {len(problems) - 1} more tickers, above)" if len(problems) > 1 else ""
        raise UserError(problems[0] + more)
    if args.features:
        inspection.write_ticker_features([(name, one.prices) for name, one in found], Path(args.features),
                                         config.data.date_column)
        console.print(Text.assemble("features in ", (args.features, "bold")))
    return 0


def _study(args: argparse.Namespace, console: Console, errors: Console) -> int:
    """`wfbt sweep` and `wfbt tune`: many experiments over one config."""
    from wfbt import runtime

    runtime.configure_jax()
    from wfbt import report, sweep, tune

    overrides = list(args.set) + _ray_override(args)
    overrides += [f"splits.max_splits={args.max_splits}"] if args.max_splits is not None else []
    run = sweep.run_sweep if args.command == "sweep" else tune.run_tune
    with runtime.progress_bar(console, enabled=not args.quiet) as update:
        done = run(Path(args.config), overrides, out_dir=args.out, overwrite=args.overwrite, progress=update,
                   log=lambda note: errors.print(note, markup=False, highlight=False, soft_wrap=True))
    if args.quiet:
        print(done.run_dir, flush=True)
    elif args.command == "sweep":
        console.print(report.fitting(console, lambda: report.trials_table(done.table, done.programs),
                                     lambda: report.trials_table(done.table, done.programs, narrow=True)))
        console.print(Text.assemble("trials in ", (str(done.run_dir / sweep.TRIALS), "bold"), "; table in ",
                                    (str(done.run_dir / sweep.TRIALS_CSV), "bold")))
    else:
        console.print(report.tune_table(done.report))
        console.print(Text.assemble("study in ", (str(done.run_dir / tune.STUDY), "bold"), "; best config's run in ",
                                    (str(done.holdout.run_dir), "bold")))
    return 0


def _print_report_files(console: Console, files) -> None:
    from wfbt import report

    console.print(report.residuals_text(files.residuals))
    console.print(Text.assemble(f"{len(files.plots)} plots in ", (str(files.html.parent / "plots"), "bold"),
                                "; report ", (str(files.html), "bold"), f" ({files.seconds:.1f} s)"))


def _report(args: argparse.Namespace, console: Console) -> int:
    from wfbt import html_report, report, ticker_report
    from wfbt.rundata import read_summary

    run_dir = Path(args.run_dir)
    summary = read_summary(run_dir)
    several = "tickers" in summary  # a run of several tickers (wfbt.ticker_run)
    if not (args.json or args.quiet):
        try:
            (ticker_report if several else report).print_summary(console, summary)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # valid JSON, not our summary
            raise UserError(f"{run_dir / 'summary.json'}: not a wfbt run summary "
                            f"({type(exc).__name__}: {exc}); was it written by `wfbt run`?") from None
    # plots and HTML from the saved files; nothing trains
    files = (ticker_report if several else html_report).write_report(run_dir)
    if args.json:
        _print_json(run_dir / "summary.json")
    elif args.quiet:
        print(files.html, flush=True)
    else:
        (_print_ticker_files if several else _print_report_files)(console, files)
    return 0


def _compare(args: argparse.Namespace, console: Console) -> int:
    from wfbt import html_report, report
    from wfbt.rundir import write_text_atomic

    runs, tests = html_report.compare_runs(args.run_dirs)
    console.print(report.compare_table([(run.name, run.summary) for run in runs]))
    if len(runs) > 1:
        console.print(report.runs_dm_table(tests))
    if args.html:
        path = Path(args.html)
        try:
            write_text_atomic(path, html_report.compare_page(runs, tests))
        except OSError as exc:
            raise UserError(f"{path}: cannot write the comparison page: {exc.strerror or exc}.") from None
        console.print(Text.assemble("comparison page ", (str(path), "bold")))
    return 0


def _predict(args: argparse.Namespace, console: Console) -> int:
    from wfbt import runtime

    runtime.configure_jax()
    from wfbt.saved import predict_next

    forecast = predict_next(Path(args.run_dir), args.data)
    if args.json:
        sys.stdout.write(json.dumps(forecast, indent=2) + "\n")
        sys.stdout.flush()
        return 0
    table = Table(title=escape(f"Next-point forecast ({forecast['windows']} saved windows)"), title_justify="left")
    for column in ("date", "last date", "last value", "last window", "average"):
        table.add_column(column, justify="left" if "date" in column else "right")
    number = lambda value: "failed" if value is None else f"{value:,.4f}"  # noqa: E731
    table.add_row(Text(forecast["date"]), Text(forecast["last_date"]), number(forecast["last_value"]),
                  number(forecast["last_window"]), number(forecast["average"]))
    console.print(table)
    if "steps" in forecast:  # [model] horizon > 1: the next h points
        steps = forecast["steps"]
        table = Table(title=escape(f"The next {len(steps['dates'])} points"), title_justify="left")
        for column in ("step", "date", "last window", "average"):
            table.add_column(column, justify="left" if column == "date" else "right")
        for k, date in enumerate(steps["dates"]):
            table.add_row(str(k + 1), Text(date), number(steps["last_window"][k] if steps["last_window"] else None),
                          number(steps["average"][k] if steps["average"] else None))
        console.print(table)
    return 0


def _print_json(path: Path) -> None:
    """summary.json as written, byte for byte, for `jq` and scripts: no rich, no wrapping."""
    text = path.read_text()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _list(console: Console) -> int:
    from wfbt.baselines import BASELINES
    from wfbt.config import SplitsConfig
    from wfbt.data import sample_tickers
    from wfbt.model_plugins import available_models
    from wfbt.report import fitting
    from wfbt.strategy_plugins import available_strategies

    models = Table(title=escape("Models ([model] name)"), title_justify="left")
    models.add_column("name", style="bold", overflow="fold")
    models.add_column("source")
    models.add_column("parameters", max_width=30)
    models.add_column("description")
    for info in available_models(search_dirs=[Path.cwd()]):  # with the files in ./models/
        models.add_row(Text(info.name), Text(info.source), Text(info.parameters), Text(info.summary))
    console.print(models)

    infos = available_strategies(search_dirs=[Path.cwd()])  # with the files in ./strategies/
    console.print(Text("Strategies ([strategy] name; or a file: strategies/x.py:Class)", style="italic"))
    console.print(fitting(console, lambda: _strategies_table(infos), lambda: _strategies_stacked(infos)))
    console.print(Text("Baselines ([evaluation] baselines): " + ", ".join(BASELINES)))

    defaults = SplitsConfig()
    needed = defaults.train + defaults.gap + defaults.val
    samples = Table(title=escape('Sample data ([data] source = "sample:<TICKER>", case-sensitive)'),
                    title_justify="left")
    for column in ("source", "rows", "first date", "last date", f"default split ({needed} rows)"):
        samples.add_column(column, justify="right" if column == "rows" else "left")
    for ticker in sample_tickers():
        fits = "fits" if ticker.rows >= needed else f"too short: needs {needed} rows"
        samples.add_row(Text(f"sample:{ticker.name}"), f"{ticker.rows:,}", Text(ticker.first_date),
                        Text(ticker.last_date), Text(fits))
    console.print(samples)
    return 0


def _parameters(info) -> str:
    return ", ".join(f"{p.name}: {p.type.__name__} = {p.default!r}" for p in info.parameters) or "-"


def _strategies_table(infos: list) -> Table:
    """For wide terminals; parameters and description wrap within bounds, so its width is known."""
    table = Table()
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("parameters", max_width=30)
    table.add_column("description", max_width=40)
    for info in infos:
        table.add_row(Text(info.name), Text(info.source), Text(_parameters(info)), Text(info.summary))
    return table


def _strategies_stacked(infos: list) -> Group:
    """For narrow terminals: each strategy's name on a line of its own (never cut), details below."""
    lines = []
    for info in infos:
        lines.append(Text.assemble((info.name, "bold"), f"  ({info.source})"))
        lines.append(Padding(Text(info.summary), (0, 0, 0, 4)))
        lines.append(Padding(Text(f"parameters: {_parameters(info)}"), (0, 0, 0, 4)))
    return Group(*lines)


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


if __name__ == "__main__":
    sys.exit(main())
