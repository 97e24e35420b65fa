"""The command line: argparse wiring only. Each command is one module in paperroute.commands.

A command module defines HELP, `add_arguments(parser)` and `run(args) -> int`. Every user error
surfaces here as an `InputError` and becomes one line on stderr and exit status 1; so does
whatever the system refuses that no command turned into one (an `OSError`: an output folder
under a file, a full disk), with its path.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

from paperroute import __version__
from paperroute.errors import InputError

# numpy's OpenBLAS starts a thread per core as numpy is imported, and they spin for a while
# (0.1-0.15 s of CPU in every command, on the 2 cores a build keeps busy); nothing here calls
# BLAS. Set before any command's module imports numpy; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# In the order `--help` lists them.
COMMANDS = ("ingest", "fetch", "build", "serve", "digest", "update")
DEFAULT_COMMAND = "build"


def _command(name: str) -> ModuleType:
    return importlib.import_module(f"paperroute.commands.{name}")


def make_parser(commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    """The parser for `commands`: each one's module is imported to describe its arguments."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--content", type=Path, default=Path("content"), metavar="DIR",
                        help="the content store (default: content/)")
    common.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="settings file (default: paperroute.yaml if present)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    parser = argparse.ArgumentParser(
        prog="paperroute",
        description="Publish research papers as a static site, feeds and an email digest. "
        "With no command, build the demo site from content/ into site/.",
    )
    parser.add_argument("--version", action="version", version=f"paperroute {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands:
        module = _command(name)
        sub = subparsers.add_parser(name, parents=[common], help=module.HELP, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # No command, or only options (`build.py --quiet`, `build.py --out public`): the default
    # command with those options. `--help` and `--version` stay the program's own.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = [DEFAULT_COMMAND, *argv]
    # Only the command being run is imported: all of them (an HTML parser, an HTTP client)
    # added 0.17 s to every build, a twentieth of a daily rebuild of 10,000 papers.
    parser = make_parser((argv[0],) if argv[0] in COMMANDS else COMMANDS)
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except InputError as err:
        print(f"paperroute: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # what the system refused (no such folder, no space, no permission): its path and why
        where = next((str(name) for name in (err.filename, err.filename2) if name is not None), None)
        reason = err.strerror or str(err)
        print(f"paperroute: error: {where}: {reason}" if where else f"paperroute: error: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("paperroute: interrupted", file=sys.stderr)
        return 130
