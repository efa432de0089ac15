"""Names, email addresses and passwords of (test) people.

Emails use the reserved example domains; the engine tags them per journey
(``step.unique``) so that test accounts never collide and are easy to find.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["names", "emails", "passwords"]

REAL_NAMES = ("Ada Lovelace", "José Martínez", "Zoë O'Brien", "Łukasz Żółć", "李小龙", "Nguyễn Thị Minh",
              "محمد علي", "Ngũgĩ wa Thiong'o", "Björk Guðmundsdóttir", "Mary-Jane Watson-Parker")


def names() -> st.SearchStrategy[str]:
    """Display names: real-world shapes, or letters, marks and spaces of any script."""
    letters = st.characters(categories=("L", "M", "Nd", "Pd", "Zs"))
    drawn = st.text(letters, min_size=1, max_size=60).filter(lambda s: s.strip() != "")
    return st.one_of(drawn, st.sampled_from(REAL_NAMES))


def emails() -> st.SearchStrategy[str]:
    first = st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789")
    rest = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", max_size=20)
    local = st.builds(str.__add__, first, rest)
    domain = st.sampled_from(("example.com", "example.org", "example.net"))
    return st.builds(lambda l, d: f"{l}@{d}", local, domain)


def passwords() -> st.SearchStrategy[str]:
    """8 to 64 characters, any script (passwords are not only ASCII)."""
    return st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=8, max_size=64)
