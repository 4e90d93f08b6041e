"""The render options as CLI flags, generated from `lvcd.options` (names, help, choices and defaults stated there
once). Every flag defaults to None, "not given", so a shot manifest's own values stay unless a flag overrides them."""

from __future__ import annotations

import argparse

from ..options import FIELDS, GROUPS, parse_size

_GROUP_TITLES = {"runtime": "model and device", "sampling": "sampling (diffusion)", "look": "look", "output": "output"}


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _help(f) -> str:
    m = f.metadata
    if m["negate"]:
        return m["help"]
    if m["switch"]:
        on, off = m["help"].split("|")
        return f"{on} (default: {m['default_text']})", off
    default = m["default_text"] or ("on" if f.default is True else "off" if f.default is False else f.default)
    return f"{m['help']} (default: {default})"


def add_render_options(p: argparse.ArgumentParser) -> None:
    """One argument group per concern, one flag per `RenderOptions` field; then the file flags shared by the
    rendering commands (`--audio`, `--allow-gaps`, `--allow-outside-paths`)."""
    for group, cls in GROUPS.items():
        g = p.add_argument_group(_GROUP_TITLES[group])
        for name in cls.__dataclass_fields__:
            f = FIELDS[name]
            m = f.metadata
            flag = m["flag"] or "--" + name.replace("_", "-")
            kw = {"dest": name, "default": None, "help": _help(f)}
            if m["switch"]:  # --name / --no-name, None = decided at run time
                kw["help"], off = kw["help"]
                g.add_argument(flag, action="store_true", **kw)
                g.add_argument("--no-" + flag[2:], dest=name, action="store_false", help=off)
                continue
            if m["negate"]:
                kw["action"] = "store_false"
            elif isinstance(f.default, bool):
                kw["action"] = "store_true"
            else:
                if m["choices"]:
                    kw["choices"] = list(m["choices"])
                if name == "size":
                    kw["type"] = _size
                elif isinstance(f.default, int):
                    kw["type"] = int
                if m["metavar"]:
                    kw["metavar"] = m["metavar"]
            g.add_argument(flag, **kw)
    g = p.add_argument_group("files")  # how inputs and outputs are read and placed: not render options
    g.add_argument(
        "--audio",
        metavar="FILE|none",
        help="the output's sound: the audio of FILE (e.g. the colour clip the lineart was made from), "
        "or `none`; default: the input's (a manifest's `audio:`)",
    )
    g.add_argument(
        "--allow-gaps",
        action="store_true",
        help="render a frame sequence with holes in its numbering (refused by default: frames lost)",
    )
    g.add_argument(
        "--allow-outside-paths",
        action="store_true",
        help="let a manifest's `output:` / `work:` point outside the manifest's folder",
    )


def options_from_args(args) -> dict:
    """Only the options the user actually gave (None = keep the default / the manifest's value). `--palette FILE` is
    read here into the option's {name: "#rrggbb"} (errors name the file)."""
    opts = {k: getattr(args, k) for k in FIELDS if getattr(args, k, None) is not None}
    if "palette" in opts:
        from ..deliver.swatches import named_palette_file

        opts["palette"] = named_palette_file(opts["palette"])
    return opts
