"""Command-line flags generated from frozen config dataclasses, so the command line and the Python
API cannot drift apart.

Every field becomes `--field-name` (aliases may add short or older spellings); its help text is
the comment written after the field in the class body, and its default is the dataclass's own
(shown in the help, never repeated here). A flag that is not given leaves the field to its
default. Types: int, float, str, bool (`--x` / `--no-x`), `X | None` ("none" for None; a
`bool | None` takes true, false or none), `tuple[str, ...]` (comma-separated, "" for none) and
`tuple[tuple[str, float], ...]` (`name=value,...`). Values are checked by the dataclass's own checks, which name the field.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from typing import Any

UNSET = object()  # the default of every generated flag: "not given"


def field_docs(cls) -> dict[str, str]:
    """{field: the comment after it in the class body} (the help text of its flag)."""
    docs = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+): [^#]*?#\s*(.+)$", line)
        if m:
            docs[m.group(1)] = m.group(2).strip()
    return docs


def _scalar(kind: str):
    return {"int": int, "float": float, "str": str}[kind]


def _optional(kind: str):
    def parse(text: str):
        return None if text.lower() == "none" else _scalar(kind)(text)

    parse.__name__ = f"{kind} or none"
    return parse


def _optional_bool(text: str):
    value = {"none": None, "true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower(), "?")
    if value == "?":
        raise argparse.ArgumentTypeError(f"expected true, false or none, got {text!r}")
    return value


_optional_bool.__name__ = "true, false or none"


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _pairs(text: str) -> tuple[tuple[str, float], ...]:
    """"max_steps=200,damage_per_second=2" -> (("max_steps", 200), ("damage_per_second", 2.0))."""
    out = []
    for item in _names(text):
        name, eq, value = item.partition("=")
        if not eq:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {item!r}")
        number = float(value)
        out.append((name.strip(), int(number) if number.is_integer() and "." not in value else number))
    return tuple(out)


_pairs.__name__ = "NAME=VALUE list"
_names.__name__ = "comma-separated list"


def _flag_kwargs(annotation: str) -> dict[str, Any]:
    """argparse keyword arguments for a field of this (string) annotation."""
    annotation = annotation.replace(" ", "")
    if annotation == "bool":
        return dict(action=argparse.BooleanOptionalAction)
    if annotation in ("int", "float", "str"):
        return dict(type=_scalar(annotation))
    if annotation == "bool|None":
        return dict(type=_optional_bool)
    m = re.fullmatch(r"(int|float|str)\|None", annotation)
    if m:
        return dict(type=_optional(m.group(1)))
    if annotation == "tuple[str,...]":
        return dict(type=_names)
    if annotation == "tuple[tuple[str,float],...]":
        return dict(type=_pairs)
    raise TypeError(f"no command-line type for a field annotated {annotation!r}")


def add_flags(parser: argparse.ArgumentParser, cls, *, aliases: dict[str, tuple[str, ...]] | None = None,
              rename: dict[str, str] | None = None, skip: tuple[str, ...] = (), group: str | None = None) -> None:
    """One flag per field of the dataclass `cls` (but `skip`), in a help group named `group`;
    `rename` {field: "--flag"} gives a field another flag name where its own is taken."""
    target = parser.add_argument_group(group or cls.__name__)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        primary = (rename or {}).get(f.name, f"--{f.name.replace('_', '-')}")
        names = [primary, *(aliases or {}).get(f.name, ())]
        dest = primary.lstrip("-").replace("-", "_")
        if dest != f.name:  # where `given` finds a renamed field's value
            parser.set_defaults(**{_dest_key(cls, f.name): dest})
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        help_text = f"{docs.get(f.name, '')} (default: {shown})".strip().replace("%", "%%")
        target.add_argument(*names, dest=dest, default=UNSET, help=help_text, **_flag_kwargs(str(f.type)))


def _dest_key(cls, name: str) -> str:
    return f"_dest_{cls.__name__}_{name}"


def given(args: argparse.Namespace, cls) -> dict[str, Any]:
    """The fields of `cls` given on the command line."""
    dest = {f.name: getattr(args, _dest_key(cls, f.name), f.name) for f in dataclasses.fields(cls)}
    return {name: getattr(args, d) for name, d in dest.items() if getattr(args, d, UNSET) is not UNSET}


def build(args: argparse.Namespace, cls, **extra):
    """An instance of `cls` from the flags given (`extra` fills fields not given); the class checks it."""
    return cls(**{**extra, **given(args, cls)})
