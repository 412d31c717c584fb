"""What every subcommand shares: errors, argument helpers, number format, saving."""

import argparse
import os
import sys

PROG = "mmusim-plot"
FORMATS = {".png": "png", ".svg": "svg"}


class PlotError(Exception):
    """A problem with the command line or an input: reported in one line, exit 2."""


def fail(message):
    raise PlotError(message)


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line and exit status 2."""

    def error(self, message):
        if message.startswith("argument COMMAND: invalid choice: "):
            message = "unknown subcommand " + message.split("invalid choice: ", 1)[1]
        sys.stderr.write(f"{PROG}: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def output_path(value):
    ext = os.path.splitext(value)[1].lower()
    if ext not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"output file {value!r}: unsupported extension {ext or '(none)'!r}; use .png or .svg")
    return value


def plain_number(x, _pos=None):
    if x == 0:
        return "0"
    if abs(x) >= 1:
        return f"{x:,.0f}" if abs(x - round(x)) < 1e-9 else f"{x:g}"
    return f"{x:g}"


def save(fig, out):
    try:
        fig.savefig(out, format=FORMATS[os.path.splitext(out)[1].lower()], dpi=120, bbox_inches="tight")
    except OSError as e:
        fail(f"{out}: cannot write: {e.strerror or e}")
