"""The ``mock-server`` command line: ``python -m sonar_tui.mock`` and ``sonar-tui mock-server``.

``add_arguments(parser)`` fills any argparse parser (the app's CLI can mount it as a
sub-command); ``run(args)`` starts the server from the parsed namespace; ``main(argv)``
does both.
"""

from __future__ import annotations

import argparse

from sonar_tui.mock.content import DEFAULT_CHUNKS
from sonar_tui.mock.profiles import DEFAULT_PROFILE, PROFILES, describe_profiles
from sonar_tui.mock.runner import serve
from sonar_tui.mock.service import DEFAULT_JOB_SECONDS

DESCRIPTION = ("A local mock of Perplexity's Sonar and Agent APIs on 127.0.0.1, with fault "
               "profiles. Point the client's base URL at the printed address.")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "profiles:\n" + describe_profiles()
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0,
                        help="port to listen on (default 0: any free port)")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES),
                        metavar="NAME", help="behaviour, see the list below (default: default)")
    parser.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS,
                        help=f"answer length in stream chunks of ~8 characters "
                             f"(default {DEFAULT_CHUNKS})")
    parser.add_argument("--pace", type=float, default=None,
                        help="chunks per second (default: as fast as possible)")
    parser.add_argument("--fault-times", type=int, default=None, metavar="N",
                        help="apply the profile to the next N requests only, then behave "
                             "normally")
    parser.add_argument("--api-key", default=None,
                        help="accept only this bearer key (default: any non-empty key)")
    parser.add_argument("--seed", type=int, default=0, help="varies the generated answers")
    parser.add_argument("--job-seconds", type=float, default=DEFAULT_JOB_SECONDS, metavar="S",
                        help="a background job (background: true) finishes S seconds after it "
                             f"was created (default {DEFAULT_JOB_SECONDS:g})")
    parser.add_argument("--job-polls", type=int, default=None, metavar="N",
                        help="a background job finishes at its Nth read (GET) instead, "
                             "whatever the time")
    return parser


def run(args: argparse.Namespace) -> int:
    serve(args.host, args.port, args.profile, api_key=args.api_key, chunks=args.chunks,
          pace=args.pace, fault_times=args.fault_times, seed=args.seed,
          job_seconds=None if args.job_polls is not None else args.job_seconds,
          job_polls=args.job_polls)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="python -m sonar_tui.mock",
                                                   description=DESCRIPTION))
    return run(parser.parse_args(argv))


__all__ = ["DESCRIPTION", "add_arguments", "main", "run"]
