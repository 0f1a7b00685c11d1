"""Free-text shopping intents: a query such as "red mug between £10 and 20" becomes
filters (price bounds, a category, a brand) and the text left to embed.

Prices need a cue: a word or sign before the number ("under 50", "over $80",
"< 40"), one after it ("50 or less"), or a range ("between 10 and 20", "10-20"). A bare
number ("size 10 shoes", "2 pack") is never a price, nor is one followed by a unit
("under 2 kg"). Only price phrases leave the text: category and brand words stay, as
they help the embedding.

Categories and brands are looked up word by word in an index built once per
:class:`Vocabulary` (a dict of word tuples, cheaper than one regex alternation of
thousands of names); the price patterns do not depend on the vocabulary and are
compiled once for the module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from endcap.catalog.model import Item
from endcap.pods.model import Filters

#: Longer queries are cut to this many characters before parsing.
MAX_QUERY_CHARS = 1_000
#: The largest price taken from a query (the bound of :data:`endcap.catalog.model.Price`).
_MAX_PRICE = 1e12

# --- words -----------------------------------------------------------------------------

#: A word: letters and digits, with inner apostrophes ("men's"), which are then dropped.
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_APOSTROPHES = str.maketrans("", "", "'’")


def _fold(text: str) -> str:
    """``text`` case-folded character by character, keeping its length (so that places in
    it are places in ``text``): a character whose folding is longer ("ß") stays."""
    folded = text.casefold()
    if len(folded) == len(text):
        return folded
    return "".join(f if len(f := c.casefold()) == 1 else c for c in text)


def _words(text: str) -> list[str]:
    return [w.translate(_APOSTROPHES) for w in _WORD.findall(_fold(text))]


def _word_forms(word: str) -> list[str]:
    """``word`` and its simple singular/plural forms ("mugs" ↔ "mug", "knives" ↔
    "knife", "boxes" ↔ "box", "batteries" ↔ "battery", "glass" ↔ "glasses")."""
    forms = [word]
    n = len(word)
    if word.endswith("ies") and n > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("ves") and n > 4:
        forms += [word[:-3] + "f", word[:-3] + "fe"]
    if word.endswith(("ses", "xes", "zes", "ches", "shes")) and n > 4:
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and n > 3:
        forms.append(word[:-1])
    if word.endswith(("ss", "x", "z", "ch", "sh")):
        forms.append(word + "es")
    elif not word.endswith("s"):
        if n > 2 and word.endswith("y") and word[-2] not in "aeiou":
            forms.append(word[:-1] + "ies")
        elif word.endswith("fe"):
            forms.append(word[:-2] + "ves")
        elif word.endswith("f"):
            forms.append(word[:-1] + "ves")
        forms.append(word + "s")
    return list(dict.fromkeys(forms))


V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Phrases(Generic[V]):
    """Phrases looked up by their words: ``entries`` by word tuple, and the lengths of
    the phrases starting with each word, longest first."""

    entries: dict[tuple[str, ...], V]
    lengths: dict[str, tuple[int, ...]]

    @staticmethod
    def build(entries: dict[tuple[str, ...], V]) -> _Phrases[V]:
        by_first: dict[str, set[int]] = {}
        for key in entries:
            by_first.setdefault(key[0], set()).add(len(key))
        lengths = {w: tuple(sorted(ls, reverse=True)) for w, ls in by_first.items()}
        return _Phrases(entries, lengths)

    def scan(
        self, words: Sequence[str], free: Sequence[bool],
        accept: Callable[[int, int, V], bool] | None = None,
    ) -> list[tuple[int, int, V]]:
        """Non-overlapping matches ``(first word, end word, value)``, left to right and
        the longest at each place, over the words marked free."""
        found: list[tuple[int, int, V]] = []
        i, n = 0, len(words)
        while i < n:
            step = 1
            if free[i]:
                for length in self.lengths.get(words[i], ()):
                    j = i + length
                    if j > n or not all(free[i:j]):
                        continue
                    value = self.entries.get(tuple(words[i:j]))
                    if value is not None and (accept is None or accept(i, j, value)):
                        found.append((i, j, value))
                        step = length
                        break
            i += step
        return found


# --- the vocabulary --------------------------------------------------------------------

Canon = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Segment:
    name: str
    #: The full path prefixes ending with this segment: fewest levels, then alphabetical.
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Brand:
    name: str
    #: Brands of one or two characters ("On") must be written as in the catalog: in
    #: lower case they are ordinary words.
    exact: str | None


@dataclass(frozen=True, slots=True)
class _Index:
    segments: dict[Canon, _Segment]
    #: Query words → the segments they name: exactly, or failing that by plural form.
    category_phrases: _Phrases[tuple[Canon, ...]]
    #: Path prefix → the segments along it.
    path_segments: dict[str, frozenset[Canon]]
    brands: _Phrases[_Brand]

    @staticmethod
    def build(categories: Sequence[str], brands: Sequence[str]) -> _Index:
        prefixes: dict[Canon, dict[str, int]] = {}
        names: dict[Canon, str] = {}
        path_segments: dict[str, frozenset[Canon]] = {}
        for raw in categories:
            levels = [s for s in raw.strip().strip("/").split("/") if s.strip()]
            along: list[Canon] = []
            for depth, level in enumerate(levels, 1):
                canon = tuple(_words(level))
                if not canon:
                    continue
                along.append(canon)
                path = "/".join(levels[:depth])
                prefixes.setdefault(canon, {})[path] = depth
                names.setdefault(canon, level.strip())
                path_segments.setdefault(path, frozenset(along))
        segments = {
            c: _Segment(names[c], tuple(sorted(ps, key=lambda p: (ps[p], p))))
            for c, ps in prefixes.items()
        }
        # Each segment under its own words (rank 0) and with its last word's other
        # forms (rank 1); a key keeps only the segments of its best rank.
        ranked: dict[Canon, tuple[int, list[Canon]]] = {}
        for canon in sorted(segments):
            for form in _word_forms(canon[-1]):
                key = (*canon[:-1], form)
                rank = 0 if key == canon else 1
                best = ranked.get(key)
                if best is None or rank < best[0]:
                    ranked[key] = (rank, [canon])
                elif rank == best[0]:
                    best[1].append(canon)
        brand_entries: dict[tuple[str, ...], _Brand] = {}
        for name in sorted({b.strip() for b in brands if b.strip()}):
            key = tuple(_words(name))
            if key and key not in brand_entries:
                exact = name if len(key) == 1 and len(key[0]) <= 2 else None
                brand_entries[key] = _Brand(name, exact)
        return _Index(
            segments=segments,
            category_phrases=_Phrases.build({k: tuple(cs) for k, (_, cs) in ranked.items()}),
            path_segments=path_segments,
            brands=_Phrases.build(brand_entries),
        )


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What the catalog knows: category paths and brands."""

    categories: Sequence[str]  # full paths like "Home/Kitchen/Mugs"
    brands: Sequence[str]
    _index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "brands", tuple(self.brands))
        object.__setattr__(self, "_index", _Index.build(self.categories, self.brands))

    @staticmethod
    def from_items(items: Iterable[Item]) -> Vocabulary:
        """The category paths and brands of ``items``, each once, sorted."""
        categories: set[str] = set()
        brands: set[str] = set()
        for item in items:
            categories.update(p for c in item.categories if (p := c.strip().strip("/")))
            if item.brand.strip():
                brands.add(item.brand.strip())
        return Vocabulary(sorted(categories), sorted(brands))


@dataclass(frozen=True, slots=True)
class Intent:
    #: What is left to embed; the query itself when nothing else is left.
    text: str
    #: price_min, price_max, category and brand found in the query.
    filters: Filters
    #: The phrases recognised, in query order, for explanations and debugging.
    matched: tuple[str, ...]


# --- prices ----------------------------------------------------------------------------

_NOT_WORD_AFTER = r"(?![^\W_])"
_NOT_WORD_BEFORE = r"(?<![^\W_])"
_CURRENCY_BEFORE = r"(?:[£$€]|(?:gbp|usd|eur)(?![^\W\d_]))"  # "usd40" too
_CURRENCY_AFTER = (
    rf"(?:[£$€]|(?:gbp|usd|eur|pounds?|dollars?|euros?|quid|bucks){_NOT_WORD_AFTER})")
_NUMBER = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"


def _alternation(words: Iterable[str]) -> str:
    """A pattern matching any of ``words``, as a trie ("c(?:m|l|ups?)"): a flat
    alternation of a hundred words is tried word by word."""
    trie: dict[str, dict[str, Any]] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and "" not in node else f"(?:{'|'.join(alts)})"
        return body + "?" if "" in node else body

    return emit(trie)


#: Words after a number that make it a measure, not a price.
_UNITS = (
    "mg", "g", "gr", "gram", "grams", "kg", "kgs", "kilo", "kilos", "lb", "lbs", "oz",
    "ounce", "ounces", "mm", "cm", "m", "km", "metre", "metres", "meter", "meters", "inch",
    "inches", "ft", "feet", "foot", "yard", "yards", "ml", "cl", "l", "litre", "litres",
    "liter", "liters", "gallon", "gallons", "pint", "pints", "w", "watt", "watts", "kw",
    "v", "volt", "volts", "mah", "wh", "mb", "gb", "tb", "hz", "mhz", "ghz", "mp",
    "megapixel", "megapixels", "percent", "degree", "degrees", "year", "years", "yr", "yrs",
    "yo", "month", "months", "week", "weeks", "day", "days", "hour", "hours", "hr", "hrs",
    "mins", "minute", "minutes", "second", "seconds", "pc", "pcs", "piece", "pieces",
    "pack", "packs", "pk", "pair", "pairs", "count", "ct", "people", "person", "persons",
    "player", "players", "seater", "seat", "seats", "cup", "cups", "serving", "servings",
    "sheet", "sheets", "roll", "rolls", "pod", "pods", "capsule", "capsules", "tablet",
    "tablets", "ply", "tog", "x", "st", "nd", "rd", "th",
)
_NO_UNIT = rf"(?!\s*(?:{_alternation(_UNITS)}{_NOT_WORD_AFTER}|[%°″]))"
#: A single amount must not be the start of a range ("under 10-20").
_NO_RANGE = r"(?!\s*(?:[-–—]|to(?![^\W_]))\s*[£$€]?\s*[0-9])"


def _amount(name: str) -> str:
    """A number with an optional currency before or after it, named ``name``."""
    return (rf"(?:{_CURRENCY_BEFORE}\s*)?(?P<{name}>{_NUMBER})(?![0-9]|[.,][0-9])"
            rf"(?:\s*{_CURRENCY_AFTER})?{_NOT_WORD_AFTER}{_NO_UNIT}")


_CEILING_WORDS = (r"under|below|less\s+than|lower\s+than|cheaper\s+than|up\s+to|"
                  r"max(?:imum)?|at\s+most|no\s+more\s+than|not\s+more\s+than|"
                  r"no\s+higher\s+than|not\s+over")
_FLOOR_WORDS = (r"over|above|more\s+than|greater\s+than|higher\s+than|at\s+least|"
                r"min(?:imum)?|no\s+less\s+than|not\s+less\s+than|starting\s+at|from")
_TO = rf"\s*(?:[-–—]|(?:to|until|till){_NOT_WORD_AFTER})\s*"
_AND = rf"\s*(?:[-–—&]|(?:and|to){_NOT_WORD_AFTER})\s*"
_START = r"(?<![\w.,/\-–—])"  # a number-first phrase starts a word, not "3-4-5"

#: A price phrase, in one pattern, which is only tried where a phrase may start (see
#: _prices): a range ("between" b_lo and b_hi, "from" f_lo to f_hi), a ceiling (max)
#: or floor (min) after a cue, or a phrase led by the number (lead): "50 or less"
#: (then or_less is set), "50 or more", or a range "10-20" (lead to lead_hi). Where
#: several might start at one place, the first listed wins. It reads case-folded text.
_PRICE = re.compile(
    rf"{_NOT_WORD_BEFORE}between\s+{_amount('b_lo')}{_AND}{_amount('b_hi')}"
    rf"|{_NOT_WORD_BEFORE}from\s+{_amount('f_lo')}{_TO}{_amount('f_hi')}"
    rf"|(?:{_NOT_WORD_BEFORE}(?:{_CEILING_WORDS}){_NOT_WORD_AFTER}[.:]?\s*|(?:<=|=<|≤|<)\s*)"
    rf"{_amount('max')}{_NO_RANGE}"
    rf"|(?:{_NOT_WORD_BEFORE}(?:{_FLOOR_WORDS}){_NOT_WORD_AFTER}[.:]?\s*|(?:>=|=>|≥|>)\s*)"
    rf"{_amount('min')}{_NO_RANGE}"
    rf"|{_START}{_amount('lead')}(?:"
    rf"\s*,?\s*(?:or|and)\s+(?:(?P<or_less>less|under|below|lower|cheaper)|more|over|above|"
    rf"higher|up(?:wards)?){_NOT_WORD_AFTER}"
    rf"|{_TO}{_amount('lead_hi')}(?!\s*[-–—/]\s*[0-9]))"
)
_HAS_DIGIT = re.compile(r"[0-9]")
_LAST_WORD = re.compile(r"([^\W_]+)\W*$")
#: Signs that may stand before a number, apart from it or not: "< 40", "£40", "≤40".
_SIGNS = " £$€<>=≤≥"
#: How far before a number its cue may start ("no more than £" is 14 characters).
_CUE_REACH = 24
_CODES = frozenset({"gbp", "usd", "eur"})
#: The words a price phrase may start with, bar the number itself.
_CUE_STARTS = frozenset({
    "between", "from", "under", "below", "less", "lower", "cheaper", "up", "max", "maximum",
    "at", "no", "not", "over", "above", "more", "greater", "higher", "min", "minimum",
    "starting", *_CODES,
})
#: Words before a leading number that make it something else: "size 8-10", "ages 3-5".
_NOT_PRICE_BEFORE = frozenset({
    "size", "sizes", "sz", "age", "ages", "aged", "uk", "us", "eu", "pack", "packs", "set",
    "sets", "year", "years", "model", "no", "number", "nr", "page", "pages", "vol",
    "volume", "gen", "generation", "grade", "level", "part", "version", "ring", "cup",
    "band", "chapter", "season", "episode",
})


@dataclass(frozen=True, slots=True)
class _Price:
    start: int
    end: int
    low: float | None
    high: float | None


def _value(text: str) -> float | None:
    v = float(text.replace(",", ""))
    return v if v <= _MAX_PRICE else None


def _prices(s: str, spans: Sequence[tuple[int, int]], words: Sequence[str]) -> list[_Price]:
    """The price phrases of the case-folded query ``s``, whose words lie at ``spans``:
    left to right, without overlaps."""
    # Every phrase holds an amount, and starts with it, with a sign just before it or
    # with a cue word at most _CUE_REACH before it.
    starts: set[int] = set()
    for k, w in enumerate(words):
        if not (w[0].isdigit() or (w[:3] in _CODES and w[3:4].isdigit())):
            continue
        a = spans[k][0]
        starts.add(a)
        j = k - 1
        while j >= 0 and spans[j][0] >= a - _CUE_REACH:
            if words[j] in _CUE_STARTS:
                starts.add(spans[j][0])
            j -= 1
        i = a
        while i > 0 and a - i < 4 and s[i - 1] in _SIGNS:
            i -= 1
            if s[i] != " ":
                starts.add(i)
    found: list[_Price] = []
    end = 0
    for start in sorted(starts):
        if start < end:
            continue
        m = _PRICE.match(s, start)
        if m is None:
            continue
        low: str | None = None
        high: str | None = None
        if m["b_lo"]:
            low, high = m["b_lo"], m["b_hi"]
        elif m["f_lo"]:
            low, high = m["f_lo"], m["f_hi"]
        elif m["max"]:
            high = m["max"]
        elif m["min"]:
            low = m["min"]
        else:
            if s[start].isdigit():  # "size 8-10", not "£8-10"
                before = _LAST_WORD.search(s, max(0, start - 32), start)
                if before and before.group(1) in _NOT_PRICE_BEFORE:
                    continue
            if m["lead_hi"]:
                low, high = m["lead"], m["lead_hi"]
            elif m["or_less"]:
                high = m["lead"]
            else:
                low = m["lead"]
        lo = _value(low) if low else None
        hi = _value(high) if high else None
        if (low and lo is None) or (high and hi is None):
            continue
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        found.append(_Price(m.start(), m.end(), lo, hi))
        end = m.end()
    return found


# --- the text left ---------------------------------------------------------------------

_CONNECTORS = frozenset({"for", "with", "and", "or", "at", "priced", "costing"})
_PUNCT = " ,;:-–—"
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,;:])")
_REPEATED_PUNCT = re.compile(r"([,;:])(?:\s*[,;:])+")


def _strip_end(s: str) -> str:
    while True:
        s = s.rstrip(_PUNCT)
        head, _, last = s.rpartition(" ")
        if last.casefold() not in _CONNECTORS:
            return s
        s = head


def _strip_start(s: str) -> str:
    while True:
        s = s.lstrip(_PUNCT)
        first, _, tail = s.partition(" ")
        if first.casefold() not in _CONNECTORS:
            return s
        s = tail


def _without(q: str, prices: Sequence[_Price]) -> str:
    """``q`` less its price phrases and the connectors they leave behind."""
    pieces: list[str] = []
    pos = 0
    for p in prices:
        pieces.append(_strip_end(q[pos:p.start]))  # "mugs for [under 20]"
        pos = p.end
    pieces.append(q[pos:])
    text = " ".join(" ".join(p for p in pieces if p).split())
    if "," in text or ";" in text or ":" in text:  # "mugs, [under 20,] red"
        text = _REPEATED_PUNCT.sub(r"\1", _SPACE_BEFORE_PUNCT.sub(r"\1", text))
    return _strip_start(_strip_end(text))


# --- parsing ---------------------------------------------------------------------------


def parse_intent(query: str, vocab: Vocabulary) -> Intent:
    """Filters and the text to embed from a shopper's free-text ``query``.

    Raises ValueError for a query with nothing but whitespace.
    """
    q = " ".join(query.split())[:MAX_QUERY_CHARS].rstrip()
    if not q:
        raise ValueError("the query is empty")
    index = vocab._index
    matched: list[tuple[int, str]] = []

    s = _fold(q)
    tokens = list(_WORD.finditer(s))
    spans = [m.span() for m in tokens]
    words = [m.group() for m in tokens]
    if "'" in s or "’" in s:
        words = [w.translate(_APOSTROPHES) for w in words]

    prices = _prices(s, spans, words) if _HAS_DIGIT.search(s) else []
    lows = [p.low for p in prices if p.low is not None]
    highs = [p.high for p in prices if p.high is not None]
    matched += [(p.start, q[p.start:p.end]) for p in prices]
    # The words still free to name a brand or a category: none inside a price phrase.
    free = ([not any(p.start <= a < p.end for p in prices) for a, _ in spans] if prices
            else [True] * len(spans))

    brand: str | None = None
    if index.brands.entries:
        def written_so(i: int, j: int, b: _Brand) -> bool:
            return b.exact is None or q[spans[i][0]:spans[j - 1][1]] == b.exact

        hits = index.brands.scan(words, free, written_so)
        if hits:
            i, j, b = min(hits, key=lambda h: (-len(h[2].name), h[0]))
            brand = b.name
            matched.append((spans[i][0], q[spans[i][0]:spans[j - 1][1]]))
            free[i:j] = [False] * (j - i)

    category: str | None = None
    if index.category_phrases.entries:
        found = index.category_phrases.scan(words, free)
        if found:
            first: dict[tuple[Canon, ...], int] = {}  # each named once: "mug ... mugs"
            for k, (_, _, canons) in enumerate(found):
                first.setdefault(canons, k)
            distinct = list(first)
            category, used = _category(index, distinct)
            for u in sorted(used):
                i, j, _ = found[first[distinct[u]]]
                matched.append((spans[i][0], q[spans[i][0]:spans[j - 1][1]]))

    filters = Filters(
        category=category, brand=brand,
        price_min=max(lows) if lows else None, price_max=min(highs) if highs else None)
    text = _without(q, prices) if prices else q
    return Intent(text=text or q, filters=filters,
                  matched=tuple(phrase for _, phrase in sorted(matched)))


def _category(index: _Index, found: Sequence[tuple[Canon, ...]]) -> tuple[str, set[int]]:
    """The category path for the segments found, and which of them it covers.

    The path is the one covering most of the segments found ("kitchen knives" →
    Home/Kitchen/Knives, not Home/Kitchen); then the one ending with the longest segment
    name; then the fewest levels; then alphabetical.
    """
    if len(found) == 1:
        best_len, best_path = -1, ""
        for canon in found[0]:
            seg = index.segments[canon]
            if len(seg.name) > best_len or (len(seg.name) == best_len and (
                    seg.paths[0].count("/"), seg.paths[0]) < (best_path.count("/"), best_path)):
                best_len, best_path = len(seg.name), seg.paths[0]
        return best_path, {0}
    best: tuple[int, int, int, str] | None = None
    best_used: set[int] = set()
    for canons in found:
        for canon in canons:
            seg = index.segments[canon]
            for path in seg.paths:
                along = index.path_segments[path]
                used = {k for k, cs in enumerate(found) if not along.isdisjoint(cs)}
                key = (-len(used), -len(seg.name), path.count("/"), path)
                if best is None or key < best:
                    best, best_used = key, used
    assert best is not None
    return best[3], best_used
