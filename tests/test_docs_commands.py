"""Every `wfbt` command in README.md and docs/*.md works when pasted in order.

The commands are read from the ```bash blocks, in document order, and run through `wfbt.cli.main`
in a copy of the repository's experiments and strategies. `make run` stands for its Makefile
recipe; other `make` targets (set-up, tests, benchmarks) are skipped. Runs are shrunk so the whole
sequence takes seconds: two splits, one epoch and a tiny model, set BEFORE the documented
`--set`s so that the documented ones still win (a README example that collides with an earlier
run's folder must still collide here).
"""

import re
import shlex
import shutil
from pathlib import Path

from wfbt.cli import main

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHRINK = ["--set", "train.epochs=1", "--set", "model.hidden_size=8", "--set", "model.dense_size=4",
          "--set", "evaluation.forecast_average=2"]
MAX_SPLITS = "2"


def bash_lines(markdown: str) -> list[str]:
    """The lines of the ```bash blocks, in order."""
    blocks = re.findall(r"^```bash\n(.*?)^```", markdown, flags=re.M | re.S)
    return [line for block in blocks for line in block.splitlines()]


def make_recipe(target: str) -> list[str] | None:
    """The `wfbt` command a Makefile target runs, as argv, or None when it runs none."""
    recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), flags=re.M)
    for line in recipe.group(1).splitlines() if recipe else ():
        words = shlex.split(line)
        if words and words[0].endswith("/wfbt"):
            return words[1:]
    return None


def documented_commands() -> list[tuple[str, list[str]]]:
    """(where, argv) for every wfbt command in the docs, in the order a reader meets them."""
    commands = []
    for doc in DOCS:
        for line in bash_lines(doc.read_text()):
            words = shlex.split(line, comments=True)
            where = f"{doc.relative_to(REPO)}: {line.strip()}"
            if words[:1] == ["make"]:
                argv = make_recipe(words[1]) if len(words) > 1 else None
                if argv is not None:
                    commands.append((where, argv))
            elif words and (words[0] == "wfbt" or words[0].endswith("/wfbt")):
                commands.append((where, words[1:]))
    return commands


def shrunk(argv: list[str]) -> list[str]:
    """A `run` (or `sweep`) with two splits, one epoch (unless the docs set one) and a tiny model;
    a `tune` with twelve splits, so that a tuning period comes before its holdout."""
    if argv[:1] not in (["run"], ["sweep"], ["tune"]):
        return argv
    rest = list(argv[2:])
    if "--max-splits" in rest:
        del rest[rest.index("--max-splits"): rest.index("--max-splits") + 2]
    return [argv[0], argv[1], *SHRINK, "--max-splits", "12" if argv[0] == "tune" else MAX_SPLITS, *rest]


def test_the_docs_show_the_commands_a_reader_pastes():
    commands = [argv for _, argv in documented_commands()]
    assert ["run", "experiments/aapl_rolling.toml"] == commands[0]  # make run
    assert ["run", "experiments/quick.toml"] in commands and ["list"] in commands
    assert any(argv[:1] == ["report"] for argv in commands) and any(argv[:1] == ["compare"] for argv in commands)


def test_shrinking_keeps_the_documented_settings():
    argv = shrunk(["run", "x.toml", "--max-splits", "50", "--set", "train.epochs=5", "--out", "o"])
    assert argv == ["run", "x.toml", *SHRINK, "--max-splits", "2", "--set", "train.epochs=5", "--out", "o"]


def test_every_documented_command_works_pasted_in_order(tmp_path, monkeypatch, capsys):
    for folder in ("experiments", "strategies"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    for where, argv in documented_commands():
        code = main(shrunk(argv))
        captured = capsys.readouterr()
        assert code == 0, f"{where}\nexit {code}: {captured.err.strip()}"
