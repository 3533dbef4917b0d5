"""``hyrax <verb> [-c config.toml] [options]``: the command-line front of the verbs.

Start-up only imports the light verb modules; a verb imports torch and the like when it runs.
Exit codes: 0 success, 1 runtime error (a one-paragraph message; the traceback only with
``general.log_level = "debug"``, which an unexpected error's message suggests), 2 usage error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hyrax import __version__


def _parse_assignment(text: str) -> tuple[str, object]:
    key, separator, raw = text.partition("=")
    if not separator or not key.strip():
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE, e.g. train.epochs=3; got {text!r}")
    import tomlkit

    try:
        value = tomlkit.parse(f"value = {raw.strip()}").unwrap()["value"]
    except Exception:
        value = raw.strip()
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per registered verb."""
    from hyrax.registry import VERB_REGISTRY

    parser = argparse.ArgumentParser(
        prog="hyrax",
        description="Hyrax: low-code machine learning on astronomy images.",
        epilog="Run `hyrax <verb> --help` for a verb's options.",
    )
    parser.add_argument("--version", action="version", version=f"hyrax {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="TOML configuration file layered over the defaults.")
    common.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        type=_parse_assignment,
        default=[],
        help="Override one configuration key (a TOML value), e.g. --set train.epochs=3. Repeatable.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="<verb>", title="verbs")
    for name, verb_class in VERB_REGISTRY.items():
        summary = verb_class.description()
        kwargs = {"help": summary, "description": summary, **verb_class.add_parser_kwargs}
        verb_class.setup_parser(verbs.add_parser(name, parents=[common], **kwargs))
    return parser


def _report(verb: str, error: BaseException, debug: bool) -> None:
    from hyrax.config.redact import redact_text
    from hyrax.errors import HyraxError

    if debug:
        import traceback

        print(redact_text("".join(traceback.format_exception(error))), file=sys.stderr, end="")
    message = redact_text(str(error) or type(error).__name__)

    # A Hyrax error already says what is wrong and how to fix it; its traceback would only show Hyrax.
    expected = isinstance(error, HyraxError)
    if not expected:
        message = f"{type(error).__name__}: {message}"
    # Not re-wrapped: paths and keys in the message must stay whole to be copied.
    lines = [part for part in message.splitlines() if part.strip()]
    print(f"hyrax {verb}: error: " + "\n".join(lines), file=sys.stderr)
    if not debug and not expected:
        print('(set general.log_level = "debug" to see the traceback)', file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help(sys.stderr)
        return 2
    debug = False
    try:
        from hyrax.hyrax import Hyrax

        hyrax = Hyrax(config_file=args.config)
        debug = hyrax.config["general"]["log_level"] == "debug"
        for key, value in args.overrides:
            hyrax.set_config(key, value, origin=f"--set {key}={value!r}")
        debug = hyrax.config["general"]["log_level"] == "debug"
        from hyrax.process import verb_scope
        from hyrax.registry import VERB_REGISTRY

        verb = VERB_REGISTRY.get(args.verb)(hyrax.config_manager)
        with verb_scope(hyrax.config["general"]):
            verb.run_cli(args)
    except KeyboardInterrupt:
        print(f"hyrax {args.verb}: interrupted.", file=sys.stderr)
        return 130
    except Exception as error:
        _report(args.verb, error, debug or logging.getLogger("hyrax").isEnabledFor(logging.DEBUG))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
