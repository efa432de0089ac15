"""Script values as bash: shell words, URLs and JSON templates with slots, for the curl export.

A value the script knows only at run time (a field of an earlier response, this
run's tag, a secret) becomes a shell variable; ``Shell`` captures a response
field right before its first use, quotes literals next to ``"${variable}"``
expansions, and writes JSON bodies as templates whose slots
``curl_helpers.py`` fills in.
"""

from __future__ import annotations

import json
import re
import shlex
from string import Formatter
from typing import Any
from urllib.parse import quote, urlencode

from engine.export.script import RUN_TIME, BasicAuth, SECRET_PREFIX, Ref, Script, ScriptRequest, Secret, Tag, Text
from engine.http.client import expand_path

__all__ = ["Shell", "secret_variable", "shell_word", "slot_opening", "json_line"]

# The template's own text: already-encoded parts stay as they are, and a query written there stays one.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"


class _Var(str):
    """A piece of a rendered value that the script knows only at run time: a shell variable name."""


def secret_variable(secret: Secret) -> str:
    """The shell variable holding a secret: ``SECRET_PASSWORD`` for ``JOURNEYS_SECRET_PASSWORD``
    (``SECRET_SHOP_ALICE_PASSWORD`` for a credential's own ``SHOP_ALICE_PASSWORD``)."""
    return "SECRET_" + secret.variable.removeprefix(SECRET_PREFIX)


class Shell:
    """Script values as shell words and JSON templates.

    A ``Ref`` becomes a shell variable captured from the saved response body right before its
    first use (the capture line waits in ``pending`` until the caller writes the line that needs
    it). In a clean-up (``local``) the variables are the function's own and a value that cannot
    be read skips the clean-up instead of ending the walk.
    """

    def __init__(self, opening: str, tags: dict[str, int], responses: dict[int, str], local: bool = False) -> None:
        self.opening = opening
        self.tags = tags
        self.tag_pattern = None
        if tags:  # the longest first, so a tag that starts another is not taken for it
            self.tag_pattern = re.compile("|".join(re.escape(tag) for tag in sorted(tags, key=len, reverse=True)))
        self.responses = responses  # request number -> where it was sent, for messages
        self.local = local
        self.variables: dict[tuple[int, tuple], str] = {}
        self.pending: list[str] = []
        self.basics = 0  # Basic Authorization headers computed so far

    def for_cleanup(self) -> Shell:
        return Shell(self.opening, self.tags, self.responses, local=True)

    # --- run-time values -------------------------------------------------------------------
    def variable(self, ref: Ref) -> str:
        """The shell variable holding ``ref``'s value, captured on first use."""
        key = (ref.response, tuple(ref.path))
        if key in self.variables:
            return self.variables[key]
        readable = re.sub(r"[^0-9A-Za-z]+", "_", "_".join(map(str, ref.path))).strip("_")[:40]
        name = f"r{ref.response}_{readable}" if readable else f"r{ref.response}_value"
        while name in self.variables.values():
            name += "_"
        self.variables[key] = name
        path = shlex.quote(json.dumps(list(ref.path)))
        if self.local:
            self.pending += [f"local {name}", f"fetch {name} r{ref.response} {path} || return 0"]
        else:
            where = self.responses.get(ref.response, f"r{ref.response}")
            self.pending.append(f"capture {name} r{ref.response} {path} {shlex.quote(where)}")
        return name

    def pieces(self, node: Any) -> list[str]:
        """``node`` as literal text and ``_Var`` pieces, in order."""
        if isinstance(node, str):
            return [node]
        if isinstance(node, Text):
            return [piece for part in node.parts for piece in self.pieces(part)]
        if isinstance(node, Tag):
            return [_Var(f"tag{node.number}")]
        if isinstance(node, Secret):
            return [_Var(secret_variable(node))]
        if isinstance(node, Ref):
            return [_Var(self.variable(node))]
        if isinstance(node, BasicAuth):
            return ["Basic ", _Var(self.basic_variable(node))]
        return [str(node)]

    def basic_variable(self, node: BasicAuth) -> str:
        """A variable holding base64 of ``user:password``, computed right before its first use."""
        self.basics += 1
        name = f"basic{self.basics}"
        computed = f"$(python3 -c \"$PY\" basic {self.word(node.user)} {self.word(node.password)})"
        self.pending += [f"local {name}", f"{name}={computed}"] if self.local else [f"{name}={computed}"]
        return name

    # --- shell words -----------------------------------------------------------------------
    def word(self, node: Any) -> str:
        """``node`` as one shell word: quoted literals next to ``"${variable}"`` expansions."""
        return shell_word(self.pieces(node))

    def label(self, text: str) -> str:
        """A printed label: its test tags are this run's, but it never needs a captured value."""
        if self.tag_pattern is None:
            return shell_word([text])
        pieces: list[str] = []
        position = 0
        for match in self.tag_pattern.finditer(text):
            pieces += [text[position:match.start()], _Var(f"tag{self.tags[match.group(0)]}")]
            position = match.end()
        return shell_word([*pieces, text[position:]])

    def url(self, request: ScriptRequest) -> str:
        """``"$TARGET"`` and the path (and query), as ``engine.http.client`` builds it."""
        url = '"$TARGET"' + self.path_word(request)
        if request.params:  # httpx adds the parameters to a query the template may already have
            url += self.query_word(request.params, "&" if "?" in request.template else "?")
        return url

    def path_word(self, request: ScriptRequest) -> str:
        """The template with each path value URL-encoded as ``expand_path`` does: at render time
        for a literal, at run time (``path_quote``) for a value known only then."""
        if not any(isinstance(value, RUN_TIME) for value in request.path_vars.values()):
            return shlex.quote(quote(expand_path(request.template, request.path_vars), safe=_PATH_SAFE))
        words = []
        for literal, field, _, _ in Formatter().parse(request.template):
            if literal:
                words.append(shlex.quote(quote(literal, safe=_PATH_SAFE)))
            if field is None:
                continue
            value = request.path_vars[field]
            if isinstance(value, RUN_TIME):
                words.append(f'"$(path_quote {self.word(value)})"')
            else:
                words.append(shlex.quote(quote(str(value), safe="")))
        return "".join(words)

    def query_word(self, params: dict[str, Any], separator: str) -> str:
        """The query string as httpx encodes ``params`` (a list repeats its key)."""
        pairs: list[tuple[str, Any]] = []
        for key, value in params.items():
            for item in value if isinstance(value, list) else [value]:
                pairs.append((str(key), item if isinstance(item, RUN_TIME) else _query_text(item)))
        if not any(isinstance(value, RUN_TIME) for _, value in pairs):
            return shlex.quote(separator + urlencode(pairs))
        # A value known only at run time: python3 encodes the query string.
        words = " ".join(f"{shlex.quote(key)} {self.word(value)}" for key, value in pairs)
        return (f'"{separator}$(python3 -c \'import sys; from urllib.parse import urlencode; '
                'a = sys.argv[1:]; print(urlencode(list(zip(a[::2], a[1::2]))))\' ' + words + ')"')

    # --- JSON templates ----------------------------------------------------------------------
    def template(self, value: Any) -> tuple[str, list[str]]:
        """``value`` as JSON text whose run-time parts are slots, and the ``NAME="$NAME"`` words
        that fill them. ``{{NAME}}`` is replaced by the text of NAME (inside a longer string too);
        a leaf that is exactly a number (or other non-text value) from a response is the typed
        slot ``{{=NAME}}``, filled with the JSON value, so a number stays a number."""
        words: list[str] = []

        def slot(name: str, typed: bool = False) -> str:
            word = f'{name}="${{{name}}}"'
            if word not in words:
                words.append(word)
            return f"{self.opening}{'=' if typed else ''}{name}}}}}"

        def walk(item: Any) -> Any:
            if isinstance(item, Ref) and not item.text:
                return slot(self.variable(item), typed=True)
            if isinstance(item, (str, *RUN_TIME)):
                return "".join(slot(piece) if isinstance(piece, _Var) else piece for piece in self.pieces(item))
            if isinstance(item, dict):
                return {key: walk(inner) for key, inner in item.items()}
            if isinstance(item, (list, tuple)):
                return [walk(inner) for inner in item]
            return item

        return json_line(walk(value)), words


def _query_text(value: Any) -> str:
    """A literal query value as httpx writes it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def shell_word(pieces: list[str]) -> str:
    """Shell words for ``pieces``: adjacent literals quoted together, variables expanded in quotes."""
    words: list[str] = []
    literal = ""
    for piece in pieces:
        if isinstance(piece, _Var):
            if literal:
                words.append(shlex.quote(literal))
                literal = ""
            words.append(f'"${{{piece}}}"')
        else:
            literal += piece
    if literal:
        words.append(shlex.quote(literal))
    return "".join(words) or "''"


def json_line(value: Any) -> str:
    """One line of JSON: readable unicode, unless a character would be invisible or confusing."""
    text = json.dumps(value, ensure_ascii=False)
    return text if text.isprintable() else json.dumps(value)


def slot_opening(script: Script) -> str:
    """How a slot for a run-time value opens in a JSON template: ``{{``, unless a literal string
    of the script contains that (then ``{{jy:``, ``{{jyjy:``...), so every slot is the exporter's."""
    strings: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, Text):
            for part in node.parts:
                collect(part)
        elif isinstance(node, dict):
            for key, inner in node.items():
                collect(key)
                collect(inner)
        elif isinstance(node, (list, tuple)):
            for inner in node:
                collect(inner)

    for step in script.steps:
        for request in step.requests:
            collect(request.json)
        for check in step.checks:
            collect(check.expected)
    recorded = "\n".join(strings)
    opening, repeat = "{{", 0
    while opening in recorded:
        repeat += 1
        opening = "{{" + "jy" * repeat + ":"
    return opening
