"""The command lines explain themselves: defaults in every option's help, versions, profiles,
shell completion."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from meshsim import __version__, profiles
from meshsim.cli import main
from meshsim.cli import parser as meshsim_parser
from real_bench import __version__ as real_bench_version
from real_bench.cli import build_parser as real_bench_parser
from real_bench.cli import main as real_bench_main


def options(parser: argparse.ArgumentParser, prog: str = ""):
    """(command, action) for every option of a parser and of all its subcommands."""
    prog = prog or parser.prog
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options(sub, f"{prog} {name}")
        elif action.option_strings and not isinstance(
            action, argparse._HelpAction | argparse._VersionAction
        ):
            yield prog, parser, action


@pytest.mark.parametrize("make", [meshsim_parser, real_bench_parser], ids=["meshsim", "real-bench"])
def test_every_option_says_its_default(make) -> None:
    """As ``--help`` prints it (argparse prints no default for an option without help)."""
    found = list(options(make()))
    assert len(found) > 10
    missing = []
    for prog, parser, action in found:
        text = parser._get_formatter()._expand_help(action) if action.help else ""
        if not action.required and "default" not in text:
            missing.append(f"{prog} {action.option_strings[-1]}")
    assert not missing, missing


def test_a_default_is_the_value_used(capsys) -> None:
    with pytest.raises(SystemExit):
        meshsim_parser().parse_args(["capacity", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "run length (default: 2000)" in text
    assert "no progress lines (default: off)" in text


def test_versions(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        real_bench_main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"real-bench {real_bench_version}\n"
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"meshsim {__version__}\n"


def test_profiles_table(capsys) -> None:
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["NAME", "SOURCE"]
    flat = " ".join(out.split())
    for name, description, source in profiles.table():
        assert f"{name} {source}" in flat
        assert " ".join(description.split()) in flat
    assert len(profiles.table()) == len(profiles.builtin_names()) >= 3


def test_profiles_table_lists_a_profile_file(tmp_path, capsys) -> None:
    text = (ROOT / "meshsim" / "profile_data" / "seed-claims.yaml").read_text()
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("name: seed-claims", "name: mine"))
    assert main(["profiles", str(path)]) == 0
    assert f"mine{' ' * 2}" in capsys.readouterr().out


def test_completion_script(capsys) -> None:
    pytest.importorskip("argcomplete", reason="the completion extra")
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete " in script and "meshsim" in script and "real-bench" in script


@pytest.mark.parametrize(
    ("program", "line", "expected"),
    [
        ("meshsim.cli", "meshsim ca", {"capacity", "calibrate"}),
        ("meshsim.cli", "meshsim compare x.yaml --mo", {"--modes"}),
        ("real_bench.cli", "real-bench local --w", {"--warmup-s"}),
    ],
)
def test_completion_answers_the_shell(program, line, expected, tmp_path) -> None:
    pytest.importorskip("argcomplete", reason="the completion extra")
    answer = tmp_path / "answer"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
        "_ARGCOMPLETE_IFS": "\n",
    }
    subprocess.run([sys.executable, "-m", program], env=env, cwd=ROOT, check=True, timeout=60)
    assert set(answer.read_text().split()) >= expected
