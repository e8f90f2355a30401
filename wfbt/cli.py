"""`wfbt` command line: a thin shell over `wfbt.api`.

Exit codes: 0 success, 2 a user error (one readable line, no traceback), 1 a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from wfbt.errors import UserError

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: also exit 2, one line
        self.print_usage(sys.stderr)
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wfbt", description="Walk-forward backtests of sequence models.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run an experiment (resumes an interrupted one)")
    run.add_argument("config", help="experiment TOML file")
    run.add_argument("--out", help="run directory (default: [output] dir, or runs/<config name>)")
    run.add_argument("--max-splits", type=int, help="train only the first N splits")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a config value, e.g. --set train.epochs=2 (repeatable)")
    run.add_argument("--overwrite", action="store_true", help="discard saved results of a different experiment")
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    report = commands.add_parser("report", help="print the summary of a finished run again")
    report.add_argument("run_dir")
    compare = commands.add_parser("compare", help="put several runs side by side")
    compare.add_argument("run_dirs", nargs="+")
    commands.add_parser("list", help="list models and strategies")
    return parser


def main(argv: list[str] | None = None) -> int:
    # a pipe or a log file gets 120 columns instead of rich's 80, so wide tables are not cut
    console = Console() if sys.stdout.isatty() else Console(width=120)
    errors = Console(stderr=True)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return _run(args, console, errors)
        if args.command == "report":
            from wfbt import report

            summary = _read_summary(Path(args.run_dir))
            try:
                report.print_summary(console, summary)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:  # valid JSON, not our summary
                raise UserError(f"{Path(args.run_dir) / 'summary.json'}: not a wfbt run summary "
                                f"({type(exc).__name__}: {exc}); was it written by `wfbt run`?") from None
            return 0
        if args.command == "compare":
            from wfbt import report

            runs = [(Path(d).name, _read_summary(Path(d))) for d in args.run_dirs]
            console.print(report.compare_table(runs))
            return 0
        return _list(console)
    except UserError as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        errors.print("interrupted: finished chunks are saved; run the same command again to resume.")
        return 130


def _run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from wfbt import runtime

    runtime.configure_jax()
    from wfbt import api, report
    from wfbt.config import load_config

    overrides = list(args.set)
    if args.max_splits is not None:
        overrides.append(f"splits.max_splits={args.max_splits}")
    config = load_config(args.config, overrides)
    with runtime.progress_bar(console, enabled=not args.quiet) as update:
        results = api.run_experiment(config, out_dir=api.run_directory(config, args.out), overwrite=args.overwrite,
                                     progress=lambda done, total, phase: update(done, total),
                                     log=lambda note: errors.print(note, markup=False, highlight=False, soft_wrap=True))
    report.print_summary(console, results.summary)
    console.print(f"results in [bold]{results.run_dir}[/]")
    return 0


def _list(console: Console) -> int:
    from rich.table import Table

    from wfbt.baselines import BASELINES
    from wfbt.models import MODELS
    from wfbt.strategy import available_strategies

    models = Table(title="Models ([model] name)", title_justify="left")
    models.add_column("name", style="bold")
    models.add_column("description")
    for name, cls in MODELS.items():
        models.add_row(name, _first_line(cls.__doc__) or cls.__name__)
    console.print(models)

    strategies = Table(title="Strategies ([strategy] name; or a file: strategies/x.py:Class)", title_justify="left")
    for column in ("name", "source", "parameters", "description"):
        strategies.add_column(column, style="bold" if column == "name" else None)
    for info in available_strategies():
        params = ", ".join(f"{p.name}: {p.type.__name__} = {p.default!r}" for p in info.parameters) or "-"
        strategies.add_row(info.name, info.source, params, info.summary)
    console.print(strategies)
    console.print("Baselines ([evaluation] baselines): " + ", ".join(BASELINES))
    return 0


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
