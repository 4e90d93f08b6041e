"""The `lvcd` command line. It only parses arguments and calls the API; each subcommand lives in its own module
with `add_parser(subparsers)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import os
import re
import signal
import sys
import warnings

from ..version import __version__

# subcommand -> module under lvcd.cli (imported only when that subcommand runs, so --help stays fast)
SUBCOMMANDS = {
    "colorize": "Colorize a lineart video or image sequence from a coloured reference keyframe.",
    "batch": "Render every shot of a manifest and assemble the final video (resumable).",
    "render-shot": "Render one shot of a manifest in this process (for render-farm managers; no assembly).",
    "shots": "Detect shot cuts in a lineart video and write a manifest.",
    "convert": "Convert the official svd.safetensors + lvcd.ckpt into a diffusers-format pipeline folder.",
    "eval": "Evaluate a colorized video against ground truth (PSNR, SSIM, EDMD, TC, segment accuracy, ...).",
    "eval-suite": "Score a backend and the repeat / flow-warp baselines on colour clips, soft vs binarized lineart.",
    "lineart": "Extract or normalise lineart from a colour video or image sequence.",
    "recolour": "Apply an edited palette (.gpl/.aco/palette.json) to an indexed render (--format indexed).",
    "ui": "A browser page over a shot manifest: drop keyframes per shot, preview, render, download.",
    "doctor": "Report what will and will not work in this environment (torch/CUDA, ffmpeg, model), with fixes.",
}


class UserError(Exception):
    """An error caused by the user's input: printed without a traceback, exit status 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, a scheduler's kill): unwinds like Ctrl-C, so writers discard their temporaries and
    finished checkpoints stay; exit status 143 (128 + 15)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _drop_half_built_bar_errors(unraisable) -> None:
    """A signal that lands inside `tqdm.__init__` leaves a bar without `pos`; when that half-built bar is freed, its
    `__del__` raises AttributeError, which Python prints as a traceback after our one-line message. Drop only those."""
    where = getattr(unraisable.object, "__qualname__", "") or type(unraisable.object).__qualname__  # "tqdm.__del__"
    if isinstance(unraisable.exc_value, AttributeError) and where.startswith("tqdm"):
        return
    if isinstance(unraisable.exc_value, KeyboardInterrupt):  # a second interrupt while this one unwinds
        return
    sys.__unraisablehook__(unraisable)


AGAIN_S = 0.05  # s: how soon an interrupt a finalizer swallowed is raised again
_late: list[type[KeyboardInterrupt]] = []  # that interrupt's class, until SIGALRM raises it


def _on_alarm(signum, frame):
    if _late:
        raise _late.pop()()


def _raise_swallowed_interrupts_again(unraisable, outer=sys.__unraisablehook__) -> None:
    """Python cannot raise out of a finalizer: a SIGTERM or Ctrl-C whose exception is raised while a `__del__` runs
    (a `subprocess.Popen` or a progress bar freed by the GC) is printed as "Exception ignored" and the run goes on to
    the end and exits 0. While main() runs, such an interrupt is raised again `AGAIN_S` later from SIGALRM, in
    ordinary code (again if it lands in a finalizer again). Other unraisable errors reach `outer`, the hook before."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and hasattr(signal, "setitimer"):
        _late[:] = [type(unraisable.exc_value)]
        signal.setitimer(signal.ITIMER_REAL, AGAIN_S)
        return
    outer(unraisable)


def _stop_raising_again() -> None:
    _late.clear()
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)


def _install_sigalrm():
    """SIGALRM raises a swallowed interrupt again (no SIGALRM on Windows; only the main thread may set handlers)."""
    if not hasattr(signal, "SIGALRM"):
        return None
    try:
        return signal.signal(signal.SIGALRM, _on_alarm)
    except ValueError:
        return None


def _install_sigterm():
    """Handle SIGTERM for this run; returns the previous handler (restored when main() returns)."""
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (main() called from a worker thread): leave the default
        return None


THIRD_PARTY = ("diffusers", "transformers", "huggingface_hub", "accelerate", "torch")
QUIET_ENV = (
    "DIFFUSERS_VERBOSITY",
    "TRANSFORMERS_VERBOSITY",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS",
    "HF_HUB_DISABLE_PROGRESS_BARS",
    "TQDM_DISABLE",
)  # set by main() for its run, restored after


def _quiet_third_party(quiet: bool) -> None:
    """diffusers / transformers speak for themselves (loading bars, FutureWarnings) unless told otherwise; lvcd
    reports what matters itself. Always: their warnings down to errors. With --quiet: their progress bars off too.
    Set before they are imported; a user's own DIFFUSERS_VERBOSITY / TRANSFORMERS_VERBOSITY wins."""
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for mod in THIRD_PARTY:
        warnings.filterwarnings("ignore", category=FutureWarning, module=mod)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=mod)
    if quiet:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        os.environ["TQDM_DISABLE"] = "1"  # read by tqdm when it is first imported (lvcd imports it lazily)
        warnings.filterwarnings("ignore", module="|".join(THIRD_PARTY))
        if "diffusers" in sys.modules:  # already imported (the API used in-process): switch its bars off directly
            sys.modules["diffusers"].utils.logging.disable_progress_bar()


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class PlainLines:
    """A stderr for logs and CI (not a terminal): progress bars become plain lines, at most one a `interval`
    seconds per bar, without carriage returns or cursor-movement codes. Everything else passes through."""

    def __init__(self, stream, interval: float = 10.0):
        self._stream, self._interval = stream, interval
        self._last: dict[str, float] = {}  # bar description -> time its last line was written
        self._lines: dict[str, str] = {}  # bar description -> that line
        self._pending = ""

    def write(self, text: str) -> int:
        import time

        if "\r" not in text and "\x1b" not in text:
            if self._pending and text.startswith("\n"):  # a bar's final newline: flush its last state
                self._emit(self._pending, force=True, now=time.monotonic())
                self._pending = ""
                text = text[1:]
            return self._stream.write(text) if text else 0
        now = time.monotonic()
        for part in _ANSI.sub("", text).split("\r"):
            part = part.strip()
            if part:
                self._pending = part
                self._emit(part, force=False, now=now)
        return len(text)

    def _emit(self, line: str, force: bool, now: float) -> None:
        key = line.split(":", 1)[0]  # tqdm's description
        if self._lines.get(key) == line:
            return
        if force or now - self._last.get(key, -1e9) >= self._interval or "100%" in line:
            self._stream.write(line + "\n")
            self._last[key], self._lines[key] = now, line

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lvcd", description="Colorize long lineart animation from reference keyframes."
    )
    parser.add_argument("--version", action="version", version=f"lvcd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(f"lvcd.cli.{name.replace('-', '_')}_cmd")
        except ModuleNotFoundError as e:
            if e.name != f"lvcd.cli.{name.replace('-', '_')}_cmd":
                raise
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_parser(p)
        p.set_defaults(_run=mod.run)
    return parser


def _resume_hint(args) -> str:
    """What an interrupted render left behind and how to go on."""
    manifest = str(getattr(args, "input", "")).lower().endswith((".yaml", ".yml"))
    if args.command in ("batch", "render-shot") or (args.command == "colorize" and manifest):
        return "; finished shots are kept: run the same command again to render the rest"
    if args.command == "colorize":
        if getattr(args, "work", None):
            return f"; run the same command again to resume from the window checkpoints in {args.work}"
        return "; no output was written (add --work DIR to make a long diffusion render resumable)"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    previous_sigterm = _install_sigterm()
    previous_sigalrm = _install_sigalrm()
    previous_unraisable = sys.unraisablehook
    if previous_sigalrm is not None:
        sys.unraisablehook = functools.partial(_raise_swallowed_interrupts_again, outer=previous_unraisable)
    saved_env = {k: os.environ.get(k) for k in QUIET_ENV}
    saved_filters = list(warnings.filters)
    _quiet_third_party(bool(getattr(args, "quiet", False)))
    stderr = sys.stderr
    if not stderr.isatty() and not isinstance(stderr, PlainLines):
        sys.stderr = PlainLines(stderr)  # logs and CI: plain progress lines, no cursor codes
    try:
        from ..video.images import allow_gaps

        with allow_gaps(bool(getattr(args, "allow_gaps", False))):
            return int(args._run(args) or 0)
    except Terminated:
        _stop_raising_again()
        sys.unraisablehook = _drop_half_built_bar_errors  # until the interrupted frames are freed (finally)
        print(f"lvcd: terminated (SIGTERM){_resume_hint(args)}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        _stop_raising_again()
        sys.unraisablehook = _drop_half_built_bar_errors
        print(f"lvcd: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130
    except OSError as e:
        from ..oserrors import describe

        print(f"lvcd {args.command}: error: {describe(e)}", file=sys.stderr)
        return 2
    except (UserError, ValueError) as e:
        # Errors that teach: the message names the input and the fix; no traceback for user mistakes (bad paths,
        # unreadable or truncated inputs, bad options). Programming errors still show their traceback.
        print(f"lvcd {args.command}: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        from ..lock import WorkLockedError
        from ..video import VideoWriteError

        if not isinstance(e, (VideoWriteError, WorkLockedError)):
            raise
        print(f"lvcd {args.command}: error: {e}", file=sys.stderr)
        return 1
    finally:
        if sys.unraisablehook is _drop_half_built_bar_errors:
            gc.collect()  # free what the interrupted frames held (cycles included) while the hook is in place
        if previous_sigalrm is not None:
            _stop_raising_again()
            signal.signal(signal.SIGALRM, previous_sigalrm)
        sys.unraisablehook = previous_unraisable
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        sys.stderr = stderr
        warnings.filters[:] = saved_filters
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
