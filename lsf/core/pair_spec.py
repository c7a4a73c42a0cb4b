"""The grammar of `lsf analyze`'s `pairs` and `pca_pairs`: auto, all, top:K, first:K or i,j;k,l.

`parse_pairs(spec, key)` reads a setting into a `PairSpec` and refuses a malformed one in one
line naming the setting (`top:-1`, `first:x`, `0,0`, `1,2;`): config validation runs it, so a
bad `--pairs` stops before anything starts. `PairSpec.check(d)` refuses a listed pair beyond
the latent dimension once the store's metadata gives it (before any read), and
`PairSpec.count(d)` is how many pairs `lsf.stats.pair_counts.select_pairs` selects from it
(what the preflight counts). K = 0 selects no pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsf.core.errors import LsfError

FORMS = "auto, all, top:K, first:K (K >= 0) or i,j;k,l"


@dataclass(frozen=True)
class PairSpec:
    form: str  # "auto", "all", "top", "first" or "list"
    k: int = 0  # K of top:K (most correlated pairs) and first:K (pairs of the first K)
    pairs: tuple[tuple[int, int], ...] = ()  # a list's pairs as (smaller, larger), in order
    text: str = ""  # the setting as given
    key: str = "pairs"  # the setting's name in messages

    def check(self, d: int) -> PairSpec:
        """Itself, when every listed pair is of components below the latent dimension `d`."""
        for _, j in self.pairs:  # (smaller, larger)
            if j >= d:
                raise LsfError(
                    f"{self.key} {self.text!r}: component {j} is beyond the latent dimension "
                    f"{d}; list pairs of components 0 to {d - 1}"
                )
        return self

    def count(self, d: int) -> int:
        """How many pairs `select_pairs` gives for `d` components (`auto` resolved first)."""
        every = d * (d - 1) // 2
        if self.form == "all":
            return every
        if self.form == "first":
            k = min(self.k, d)
            return k * (k - 1) // 2
        if self.form == "top":
            return min(self.k, every)
        if self.form == "list":
            return len(self.check(d).pairs)
        raise ValueError("auto is resolved by lsf.stats.selection.choose_pairs before counting")


def _count(form: str, text: str, key: str) -> int:
    count = text.split(":", 1)[1].strip()
    if not _is_whole(count):
        raise LsfError(f"{key} {text!r}: K of {form}:K must be a whole number >= 0, e.g. {form}:10")
    return int(count)


def _is_whole(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_pairs(spec: str, key: str = "pairs") -> PairSpec:
    """The `PairSpec` of a `pairs` setting; `LsfError` (one line naming `key`) when it is
    not one of the forms or a listed pair is not two distinct components >= 0."""
    text = spec.strip()
    if text in ("auto", "all"):
        return PairSpec(text, text=spec, key=key)
    for form in ("top", "first"):
        if text.startswith(f"{form}:"):
            return PairSpec(form, _count(form, text, key), text=spec, key=key)
    pairs = []
    for part in text.split(";"):
        values = [v.strip() for v in part.split(",")]
        if len(values) != 2 or not all(_is_whole(v) for v in values):
            raise LsfError(f"{key} {spec!r}: expected {FORMS}; {part.strip()!r} is not i,j")
        i, j = int(values[0]), int(values[1])
        if i == j:
            raise LsfError(f"{key} {spec!r}: ({i}, {j}) is not a pair of two distinct components")
        pairs.append((min(i, j), max(i, j)))
    return PairSpec("list", pairs=tuple(pairs), text=spec, key=key)
