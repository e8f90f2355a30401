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
    output = run.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="print only the run directory (and errors)")
    output.add_argument("--json", action="store_true", help="print only summary.json (no progress, no tables)")

    report = commands.add_parser("report", help="print the summary of a finished run again")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--json", action="store_true", help="print summary.json instead of the tables")
    compare = commands.add_parser("compare", help="put several runs side by side")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    commands.add_parser("list", help="list models, strategies, baselines and sample data")
    predict = commands.add_parser("predict", help="forecast the next point with a run's saved models",
                                  description="Forecast the point after the data with the next-point models a run "
                                              "saved in RUN_DIR/model/ (docs/models.md).")
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("--data", metavar="FILE", help="a .csv or .parquet file with the run's columns "
                                                        "(default: the run's own data)")
    predict.add_argument("--json", action="store_true", help="print the forecast as JSON")
    return parser


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
    if args.command == "predict":
        return _predict(args, console)
    if args.command == "compare":
        from wfbt import report

        runs = [(Path(d).name, _read_summary(Path(d))) for d in args.run_dirs]
        console.print(report.compare_table(runs))
        return 0
    return _list(console)


def _run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from wfbt import runtime

    runtime.configure_jax()
    from wfbt import api, report
    from wfbt.config import load_config

    overrides = list(args.set)
    if args.max_splits is not None:
        overrides.append(f"splits.max_splits={args.max_splits}")
    config = load_config(args.config, overrides)
    with runtime.progress_bar(console, enabled=not (args.quiet or args.json)) as update:
        results = api.run_experiment(config, out_dir=api.run_directory(config, args.out), overwrite=args.overwrite,
                                     progress=update,
                                     log=lambda note: errors.print(note, markup=False, highlight=False, soft_wrap=True))
    if args.json:
        _print_json(results.run_dir / "summary.json")
    elif args.quiet:
        print(results.run_dir, flush=True)
    else:
        report.print_summary(console, results.summary)
        console.print(Text.assemble("results in ", (str(results.run_dir), "bold")))
    return 0


def _report(args: argparse.Namespace, console: Console) -> int:
    from wfbt import report

    run_dir = Path(args.run_dir)
    summary = _read_summary(run_dir)
    if args.json:
        _print_json(run_dir / "summary.json")
        return 0
    try:
        report.print_summary(console, summary)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # valid JSON, not our summary
        raise UserError(f"{run_dir / 'summary.json'}: not a wfbt run summary "
                        f"({type(exc).__name__}: {exc}); was it written by `wfbt run`?") from None
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
    from wfbt.strategy import available_strategies

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


def _read_summary(run_dir: Path) -> dict:
    path = run_dir / "summary.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: no summary.json here; is it a finished run directory?")
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(summary, dict):
        raise UserError(f"{path}: not a wfbt run summary (a JSON {type(summary).__name__}, not an object).")
    return summary


if __name__ == "__main__":
    sys.exit(main())
