"""The ``lean-companion`` command line: a thin dispatcher over subcommand modules.

Each subcommand lives in its own module exposing ``main(argv: list[str]) -> int``; it is
imported only when used, so ``lean-companion serve`` starts without loading numpy, the
index or any model backend.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help). Order is the order shown by --help.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("copilot.serve", "run the LSP proxy on stdio in front of Lean's server"),
    "doctor": ("copilot.doctor", "check what is installed and say what to do about what is missing"),
    "models": ("local_models.cli", "list, pull, verify, remove and benchmark local models"),
    "index": ("copilot.premises.cli", "build, update and query the project's premise index"),
    "fill-sorries": ("copilot.fill_sorries.cli", "fill the sorries of a project with Lean-verified proofs"),
    "bench": ("copilot.fill_sorries.bench", "run fill-sorries over a benchmark checkout and print the success table"),
    "install-gguf": ("copilot.install_gguf", "build and install llama-cpp-python (GGUF models) for this CPU"),
}


def _usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = ["usage: lean-companion COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "Run 'lean-companion COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lean-companion``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())  # cli-output
        return 0
    if args[0] in ("-V", "--version"):
        from importlib.metadata import version

        print(f"lean-companion {version('lean-companion')}")  # cli-output
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"lean-companion: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)  # cli-output
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


def fill_sorries_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fill-sorries`` script (same as ``lean-companion fill-sorries``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return main(["fill-sorries", *args])


if __name__ == "__main__":
    sys.exit(main())
