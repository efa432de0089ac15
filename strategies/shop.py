"""Shop data: quantities, ratings, coupon codes, postal addresses."""

from __future__ import annotations

from hypothesis import strategies as st

from .text import free_text

__all__ = ["quantities", "ratings", "coupon_codes", "addresses"]


def quantities(*, low: int = 1, high: int = 5) -> st.SearchStrategy[int]:
    return st.integers(low, high)


def ratings() -> st.SearchStrategy[int]:
    return st.integers(1, 5)


def coupon_codes(known: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Mostly the shop's real codes; sometimes a code that does not exist."""
    made_up = st.text(st.characters(categories=("Lu", "Nd")), min_size=1, max_size=12)
    return st.one_of(st.sampled_from(known), made_up)


def addresses() -> st.SearchStrategy[dict[str, str]]:
    def field(size: int) -> st.SearchStrategy[str]:
        return free_text(max_size=size)

    return st.fixed_dictionaries({
        "name": field(60),
        "street": field(80),
        "city": field(40),
        "postcode": st.text("ABCDEFGHJKLMNPRSTUVWXYZ0123456789 -", min_size=2, max_size=10)
                      .map(str.strip).filter(bool),
        "country": st.sampled_from(("GB", "FR", "DE", "JP", "BR", "EG", "US")),
    })
