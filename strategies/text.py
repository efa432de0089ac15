"""Free text with awkward Unicode, never blank.

``free_text`` mixes Hypothesis's full text generation (every code point but
surrogates) with hand-picked troublemakers: combining marks, zero-width and
bidirectional controls, emoji sequences, characters outside Latin-1 and the
BMP. It shrinks towards a single plain character.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["free_text", "AWKWARD_SAMPLES"]

AWKWARD_SAMPLES = (
    "Zoë",                      # precomposed diaeresis (Latin-1)
    "Zoe\u0308",                # the same with a combining mark
    "\u202egnp.exe",            # right-to-left override
    "a\u200db",                 # zero-width joiner
    "👩‍👩‍👧",                      # emoji ZWJ sequence
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",                 # outside the BMP
    "ǅemal Ĳssel",              # title-case digraphs, Latin Extended
    "中文 العربية עברית",          # CJK and right-to-left scripts
    "' OR 1=1 --",              # the classic
    "<script>alert(1)</script>",
    "\ufeffBOM",
    "line\r\nbreak",
)


def free_text(*, min_size: int = 1, max_size: int = 200) -> st.SearchStrategy[str]:
    generated = st.text(st.characters(exclude_categories=("Cs",)), min_size=min_size, max_size=max_size)
    sampled = st.sampled_from([s for s in AWKWARD_SAMPLES if min_size <= len(s) <= max_size])
    return st.one_of(generated, sampled).filter(lambda s: s.strip() != "")
