"""LaTeX remnants in arXiv abstracts → plain Unicode text.

Abstracts are copied from arXiv with bits of TeX left in (`\\%`, `{\\tt GPT-3.5}`, `na\\"ive`,
`S^{2}FT`). Readers, feeds and email want text, so the known constructs are turned into what they
typeset to. Unknown macros such as `\\ours` are kept as they are: deleting them would silently
drop a word, and the macro name is still readable.
"""

from __future__ import annotations

import re
import unicodedata

_ESCAPED = {"%": "%", "&": "&", "_": "_", "#": "#", "$": "$", "{": "{", "}": "}"}

# Combining marks for TeX accent commands: \"a → ä, \'e → é, \c{c} → ç.
_ACCENTS = {
    '"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303", "=": "\u0304",
    ".": "\u0307", "c": "\u0327", "v": "\u030c", "u": "\u0306", "H": "\u030b", "k": "\u0328",
}

_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "sigma": "σ", "tau": "τ", "phi": "φ",
    "omega": "ω", "Delta": "Δ", "Omega": "Ω", "times": "×", "sim": "~", "approx": "≈",
    "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "neq": "≠", "pm": "±", "cdot": "·",
    "rightarrow": "→", "to": "→", "leftarrow": "←", "infty": "∞", "ldots": "…", "dots": "…",
    "textasciitilde": "~", "eg": "e.g.", "ie": "i.e.", "etal": "et al.",
}

_SUPERSCRIPTS = str.maketrans("0123456789+-()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿ")

_STYLE_GROUP = re.compile(r"\{\\(?:tt|em|sc|bf|it|rm|sf|sl|small|large|footnotesize)\s+([^{}]*)\}")
_STYLE_COMMAND = re.compile(r"(?<![A-Za-z])\\?(?:text(?:bf|it|tt|sc|rm|sf|sl|normal)|emph|mathrm|mathbf|mathit|mathcal|mathtt|texttt|underline)\{([^{}]*)\}")
_URL = re.compile(r"\\url\{([^{}]*)\}")
_HREF = re.compile(r"\\href\{([^{}]*)\}\{([^{}]*)\}")
_ACCENT = re.compile(r"\\([\"'`^~=.]|[cvuHk](?=[{ ]))\s*(?:\{(\w)\}|(\w))")
_ESCAPE = re.compile(r"\\([%&_#${}])")
_SYMBOL = re.compile(r"\\([A-Za-z]+)(?![A-Za-z])(?:\{\})?")
_SUPERSCRIPT = re.compile(r"\^\{([^{}]*)\}|\^(\d)")
_SUBSCRIPT = re.compile(r"_\{([^{}]*)\}")
_BRACED_SYMBOL = re.compile(r"\{(ε|α|β|γ|δ|θ|λ|μ|π|σ|τ|φ|ω)\}")
_INLINE_MATH = re.compile(r"\$([^$]{1,80})\$")
_TIE = re.compile(r"(?<=\S)~(?=[A-Za-z])")


def _superscript(match: re.Match) -> str:
    body = match.group(1) if match.group(1) is not None else match.group(2)
    converted = body.translate(_SUPERSCRIPTS)
    # Only when every character has a superscript form (3^{rd} stays "3rd", not half-raised).
    return converted if all(not ch.isascii() for ch in converted) else body


def _accent(match: re.Match) -> str:
    letter = match.group(2) or match.group(3)
    return unicodedata.normalize("NFC", letter + _ACCENTS[match.group(1)])


def _symbol(match: re.Match) -> str:
    name = match.group(1)
    return _SYMBOLS.get(name, match.group(0))


def _math(match: re.Match) -> str:
    """Unwrap `$...$` only when its content is TeX (a backslash or a script), not prices."""
    body = match.group(1)
    return body if re.search(r"[\\^_]", body) else match.group(0)


def clean_abstract(text: str) -> str:
    """Turn the TeX that arXiv abstracts carry into readable Unicode; leave unknown macros."""
    text = _URL.sub(r"\1", text)
    text = _HREF.sub(r"\2 (\1)", text)
    text = _INLINE_MATH.sub(_math, text)
    for _ in range(3):  # nested styles: {\em \textbf{x}}
        text = _STYLE_GROUP.sub(r"\1", text)
        text = _STYLE_COMMAND.sub(r"\1", text)
    text = _ACCENT.sub(_accent, text)
    text = _ESCAPE.sub(lambda m: _ESCAPED[m.group(1)], text)
    text = _SYMBOL.sub(_symbol, text)
    text = _BRACED_SYMBOL.sub(r"\1", text)
    text = _SUPERSCRIPT.sub(_superscript, text)
    text = _SUBSCRIPT.sub(r"_\1", text)
    text = _TIE.sub(" ", text)
    return text
