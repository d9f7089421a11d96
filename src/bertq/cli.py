"""The ``bertq`` command: ``bertq verify [DIR]`` checks every sealed result under ``DIR`` (default
``results``) and lists what is damaged, edited or left by a killed write (exit status 1 if any)."""

from __future__ import annotations

import argparse
import sys
import time


def verify(args: argparse.Namespace) -> int:
    from .pipeline.integrity import verify as verify_tree

    started = time.perf_counter()
    found = verify_tree(args.directory)
    for line in found.lines():
        print(line)
    print(f"checked {args.directory} in {time.perf_counter() - started:.1f} s")
    return 0 if found.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bertq", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check the seals of every result under a directory")
    check.add_argument("directory", nargs="?", default="results", help="default: results")
    check.set_defaults(run=verify)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
