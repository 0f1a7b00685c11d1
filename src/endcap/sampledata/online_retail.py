"""The bundled real sample shop: the UCI "Online Retail" data set, as endcap items and events.

Chen, D., Sain, S. L. & Guo, K. (2012). *Online Retail* [Dataset]. UCI Machine Learning
Repository. https://doi.org/10.24432/C5BW33 — licensed CC BY 4.0.

What is taken as is, and what is derived (categories, colour facet, view events), is
documented in ``data/online-retail/README.md``. Only the stdlib ``csv`` and ``gzip`` are
used; loading all 541,909 rows takes a few seconds.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from endcap.catalog.model import Item
from endcap.events.model import Event, Line
from endcap.sampledata.shop import SampleShop

#: Environment variable naming the directory of the bundled data (or a directory above it).
ENV_VAR = "ENDCAP_SAMPLE_DATA"
DATA_DIR_NAME = "online-retail"
PART_GLOB = "online_retail.part-*.csv.gz"
CURRENCY = "GBP"
SOURCE = "uci-online-retail"
CITATION = (
    "Chen, Sain & Guo (2012), Online Retail, UCI Machine Learning Repository, "
    "doi:10.24432/C5BW33, CC BY 4.0"
)
#: A product code starts with five digits (85123A, 22423, ...); POST, DOT, M, C2, BANK
#: CHARGES, AMAZONFEE, gift_0001_20, DCGS0003, ... are postage, fees, vouchers, manual lines.
PRODUCT_CODE = re.compile(r"^\d{5}")
#: Codes that look like products but are services (each one's only description shown).
SERVICE_CODES = frozenset({
    "23444",  # Next Day Carriage
    "23574",  # PACKING CHARGE
    "23702",  # High Resolution Image
})
#: A purchase event holds at most this many lines (the Event schema's limit); a bigger
#: invoice (there is one, with 1,106 distinct codes) is split into several purchase events.
MAX_LINES = 1_000
#: Derived views come ``VIEW_STEP`` seconds apart before the invoice, one per line in line
#: order; an invoice with more than ``VIEW_WINDOW / VIEW_STEP`` lines has its views squeezed
#: into the ``VIEW_WINDOW`` seconds before it.
VIEW_STEP = 60.0
VIEW_WINDOW = 3_600.0
_TOKEN = re.compile(r"[A-Z0-9]+(?:['-][A-Z0-9]+)*")

#: Category rules, in order: (path, phrases any of which puts an item there, phrases that
#: veto it). A phrase is one or more whole words of the upper-cased description. An item
#: gets every path whose rule matches, or ``OTHER`` when none does.
CATEGORY_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Seasonal/Christmas", (
        "CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWMAN", "SNOWFLAKE",
        "NATIVITY", "BAUBLE", "BAUBLES", "ELF", "STOCKING", "HOLLY", "TINSEL", "MISTLETOE",
    ), ()),
    ("Seasonal/Easter", ("EASTER", "CHICK", "CHICKS", "BUNNY", "BUNNIES"), ()),
    ("Home/Candles", (
        "CANDLE", "CANDLES", "T-LIGHT", "T-LIGHTS", "TLIGHT", "TEALIGHT", "TEA LIGHT",
        "TEA LIGHTS", "CANDLEHOLDER", "CANDLESTICK", "CANDLEPOT", "VOTIVE", "INCENSE",
        "OIL BURNER", "FRAGRANCE OIL", "FRAGRANCE OILS", "LANTERN", "LANTERNS", "MATCHES",
    ), ()),
    ("Home/Lighting", (
        "LAMP", "LAMPSHADE", "LIGHTS", "NIGHT LIGHT", "LIGHT", "LED", "TORCH", "CHANDELIER",
    ), ("T-LIGHT", "TEA LIGHT")),
    ("Home/Clocks", ("CLOCK", "ALARM"), ()),
    ("Home/Textiles", (
        "CUSHION", "CUSHIONS", "THROW", "BLANKET", "QUILT", "CURTAIN", "DOORMAT", "RUG",
        "HOT WATER BOTTLE", "FILLER PAD", "PATCHWORK", "BEDSPREAD", "FLANNEL", "TOWEL",
    ), ("TEA TOWEL", "TEA TOWELS")),
    ("Home/Storage", (
        "STORAGE", "BASKET", "BASKETS", "DRAWER", "DRAWERS", "CABINET", "CHEST", "CRATE",
        "HAMPER", "TIDY", "TRINKET", "ORGANISER", "SHELF", "NEST OF", "BOXES", "BOX",
        "HATBOX", "TRUNK", "LOCKER",
    ), ("LUNCH BOX", "MUSIC BOX", "MONEY BOX", "MATCHBOX", "GIFT BOX", "CAKE BOX", "BOX OF")),
    ("Home/Furniture", ("STOOL", "CHAIR", "POUFFE", "BENCH", "SIDE TABLE", "COFFEE TABLE",
                        "TABLE RECT", "ROUND TABLE", "SOFA", "WARDROBE", "DRESSER"), ()),
    ("Home/Bathroom", (
        "BATHROOM", "BATH", "SOAP", "TOILET", "WASHBAG", "TOILETRY", "SPONGE", "SHOWER",
    ), ()),
    ("Home/Hooks & Hangers", ("HOOK", "HOOKS", "HANGER", "HANGERS", "KNOB", "KNOBS", "PEG",
                              "PEGS", "COAT RACK", "KEY HOLDER", "DOORSTOP", "DRAUGHT"), ()),
    ("Decor/Signs", ("SIGN", "SIGNS", "PLAQUE", "LETTER", "LETTERS", "NUMBER TILE"), (
        "LETTER RACK",
    )),
    ("Decor/Frames & Mirrors", ("FRAME", "FRAMES", "MIRROR", "MIRRORED", "PHOTO", "PICTURE",
                                "ALBUM"), ("MIRROR BALL",)),
    ("Decor/Hanging Decorations", (
        "HANGING", "GARLAND", "WREATH", "BUNTING", "MOBILE", "CHIME", "CHIMES", "DECORATION",
        "DECORATIONS", "HEART WICKER", "FEATHER", "STRING OF", "TASSEL", "PENNANT",
    ), ()),
    ("Decor/Ornaments", (
        "ORNAMENT", "ORNAMENTS", "FIGURE", "FIGURINE", "STATUE", "SCULPTURE", "MAGNET",
        "MAGNETS", "TOADSTOOL", "MUSHROOM", "PAPERWEIGHT", "P'WEIGHT", "SNOW GLOBE", "BUST",
        "WALL ART", "PRINT", "CANVAS",
    ), ()),
    ("Decor/Vases & Flowers", ("VASE", "VASES", "ARTIFICIAL FLOWER", "FLOWER GARLAND",
                               "PEONY", "DAISIES", "ORCHID", "STEM", "STEMS"), ()),
    ("Kitchen/Mugs & Cups", (
        "MUG", "MUGS", "CUP", "CUPS", "TEACUP", "TEACUPS", "SAUCER", "SAUCERS", "BEAKER",
        "BEAKERS", "TUMBLER", "TUMBLERS", "GOBLET", "GOBLETS", "CHALICE", "WINE GLASS",
        "WINE GLASSES", "APERITIF", "CHAMPAGNE", "MILKSHAKE", "COFFEE SET", "TEA SET",
    ), ("EGG CUP", "CUP CAKE", "CUPCAKE", "CUP CAKES", "PAPER CUPS")),
    ("Kitchen/Tableware", (
        "PLATE", "PLATES", "BOWL", "BOWLS", "DISH", "DISHES", "CUTLERY", "NAPKIN", "NAPKINS",
        "COASTER", "COASTERS", "TRAY", "TRAYS", "JUG", "PLACEMAT", "PLACEMATS", "TEAPOT",
        "SPOON", "SPOONS", "FORK", "FORKS", "EGG CUP", "EGG CUPS", "CAKE STAND", "TABLECLOTH",
        "DOILY", "DOILIES", "CAKESTAND", "BUTTER", "SUGAR", "CREAMER", "TOAST RACK",
        "TOASTRACK", "PLATTER", "PLACE SETTING", "SALT", "PEPPER", "TABLE RUNNER",
    ), ("PAPER PLATES", "PAPER NAPKINS", "SOAP DISH")),
    ("Kitchen/Baking", (
        "BAKING", "BAKE", "CAKE", "CAKES", "CUPCAKE", "CUPCAKES", "CUP CAKE", "CASES",
        "CUTTER", "CUTTERS", "MOULD", "MOULDS", "ROLLING PIN", "ICING", "SCONE", "BISCUIT",
        "PUDDING", "MUFFIN",
    ), ()),
    ("Kitchen/Food Storage", (
        "JAR", "JARS", "LUNCH BOX", "LUNCHBOX", "LUNCH BAG", "TIN", "TINS", "CANISTER",
        "BREAD BIN", "CAKE TIN", "FOOD CONTAINER", "CONTAINER", "BOTTLE", "BOTTLES",
        "FLASK", "SNACK BOX", "PICNIC", "CADDY", "BISCUIT TIN", "SNACK BOXES",
    ), ("HOT WATER BOTTLE",)),
    ("Kitchen/Utensils & Linen", (
        "KITCHEN", "TEA TOWEL", "TEA TOWELS", "APRON", "OVEN GLOVE", "CHOPPING", "SCALES",
        "MEASURING", "COLANDER", "FRYING PAN", "SPATULA", "WHISK", "GRATER", "SIEVE",
        "TEA COSY", "TIMER", "PANTRY", "FOOD COVER", "POT HOLDER", "OVEN GLOVES",
    ), ()),
    ("Fashion/Jewellery", (
        "NECKLACE", "NECKL", "NECKLAC", "BRACELET", "EARRINGS", "RING", "RINGS", "PENDANT",
        "BROOCH", "CHARM", "CHARMS", "BANGLE", "BEADS", "DIAMANTE", "JEWEL", "JEWELLERY",
        "CHOKER", "ANKLET", "TIARA",
    ), ("KEY RING", "KEYRING", "NAPKIN RING", "NAPKIN RINGS")),
    ("Fashion/Bags & Purses", (
        "BAG", "BAGS", "HANDBAG", "SHOPPER", "TOTE", "PURSE", "PURSES", "WALLET", "RUCKSACK",
        "BACKPACK", "SATCHEL", "LUGGAGE", "WASHBAG", "PASSPORT COVER",
    ), ("GIFT BAG", "GIFT BAGS", "PARTY BAG", "PARTY BAGS", "LUNCH BAG", "BAG 500G",
        "BAG 250G", "BAG 125G", "PAPER BAG", "PAPER BAGS", "CELLOPHANE BAG")),
    ("Fashion/Accessories", (
        "HAIR", "SCARF", "UMBRELLA", "GLOVES", "HAT", "KEYRING", "KEY RING", "SUNGLASSES",
        "SLIPPERS", "HAIRCLIP", "HAIRBAND", "COMB", "HAND WARMER", "POCKET MIRROR",
        "COMPACT MIRROR", "BADGE", "BADGES", "SLIPPER", "PONCHO", "RAIN MAC", "EAR MUFF",
        "KEY-CHAINS", "KEYCHAIN", "HAIR GRIP", "HAIR CLIP",
    ), ()),
    ("Stationery/Cards", ("CARD", "CARDS", "GREETING", "POSTCARD", "POSTCARDS", "INVITES"), (
        "PLAYING CARDS", "CARD GAME", "CARD HOLDER", "MEMO BOARD",
    )),
    ("Stationery/Wrapping", (
        "WRAP", "WRAPPING", "GIFT BAG", "GIFT BAGS", "TISSUE", "TISSUES", "RIBBON", "RIBBONS",
        "GIFT TAG", "GIFT TAGS", "TAGS", "CELLOPHANE", "GIFT BOX", "PAPER BAG", "PAPER BAGS",
    ), ("TISSUE BOX",)),
    ("Stationery/Writing", (
        "NOTEBOOK", "NOTEBOOKS", "NOTE BOOK", "PEN", "PENS", "PENCIL", "PENCILS", "ERASER",
        "RUBBER", "RUBBERS", "SKETCHBOOK", "MEMO", "NOTEPAD", "JOURNAL", "CALENDAR", "DIARY",
        "STICKER", "STICKERS", "CRAYONS", "CHALK", "ENVELOPE", "ENVELOPES", "LETTER RACK",
        "SHARPENER", "RULER", "STAMP", "STAMPS", "BOOKMARK", "ADDRESS BOOK", "STATIONERY",
        "WRITING", "PAPER CLIP", "DESK", "ERASERS", "POCKET BOOK", "HOLE PUNCH",
        "CALCULATOR", "MEMOBOARD", "MEMO BOARD", "TAPE", "TAPES", "BOOKCOVER", "BOOK COVER",
        "NOTE", "NOTES", "STAPLER", "PENCIL CASE",
    ), ()),
    ("Crafts/Sewing & Craft", (
        "SEWING", "KNITTING", "CRAFT", "FELTCRAFT", "BUTTON", "BUTTONS", "THREAD", "NEEDLE",
        "CROCHET", "TAPE MEASURE", "GLITTER", "SCISSORS", "ORIGAMI", "EMBROIDERY", "DECOUPAGE",
        "STENCIL", "FABRIC", "COLOURING", "COLORING", "PAINT", "PAINTING", "SCISSOR",
        "PIN CUSHION", "KNITTING NANCY",
    ), ()),
    ("Garden/Outdoor", (
        "GARDEN", "WATERING", "PLANT", "PLANTER", "PLANTERS", "FLOWER POT", "POT", "POTS",
        "BIRD FEEDER", "BIRDHOUSE", "BIRD HOUSE", "BIRD TABLE", "SEED", "SEEDS", "TROWEL",
        "GNOME", "PARASOL", "HEN HOUSE", "HERB", "HERBS", "GREENHOUSE", "GARDENERS",
        "WHEELBARROW", "BUCKET", "THERMOMETER", "WINDMILL", "PICNIC BLANKET", "BIRD BATH",
    ), ("TEA POT", "TEAPOT", "POT HOLDER")),
    ("Toys & Games/Toys", (
        "TOY", "TOYS", "DOLL", "DOLLS", "TEDDY", "SOFT TOY", "MARBLES", "SPINNING TOP",
        "KITE", "BALLOON", "BALLOONS", "PUPPET", "RATTLE", "SKIPPING ROPE", "YO-YO", "YOYO",
        "BLOCKS", "TRAIN", "ROCKET", "MAGIC", "BUBBLES", "WATER PISTOL", "SLINKY", "BALL",
        "DOLLHOUSE", "DOLLS HOUSE", "MONEY BOX", "MONEY BANK", "MUSIC BOX", "STRESS BALL",
        "CIRCUS", "INFLATABLE", "TATTOOS", "TATTOO", "PLAYHOUSE", "SPACEBOY", "WATER TRANSFER",
    ), ("MIRROR BALL", "BALL OF", "CRYSTAL BALL", "DOLLY GIRL", "DOLLY")),
    ("Toys & Games/Games & Puzzles", (
        "GAME", "GAMES", "JIGSAW", "PUZZLE", "PUZZLES", "PLAYING CARDS", "CARD GAME",
        "DOMINOES", "DOMINO", "SKITTLES", "DARTS", "CHESS", "DRAUGHTS", "BINGO", "SNAP",
        "QUIZ", "HOOPLA", "NOUGHTS", "DICE",
    ), ()),
    ("Party/Partyware", (
        "PARTY", "PAPER PLATES", "PAPER CUPS", "PAPER NAPKINS", "STRAWS", "CONFETTI",
        "PARTY BAG", "PARTY BAGS", "BIRTHDAY", "CAKE CANDLES", "FANCY DRESS", "PINATA",
        "HAPPY BIRTHDAY", "PARTY INVITES", "CRACKER", "CRACKERS", "PARASOLS", "HONEYCOMB",
        "PAPER FAN", "FAN", "FANS", "PAPER CHAIN", "PAPER CHAINS", "BALLOON", "BALLOONS",
    ), ()),
)
OTHER = "Other"

#: Colour words (as whole words of the upper-cased description) and the facet value.
COLOURS: dict[str, str] = {
    "RED": "red", "BLUE": "blue", "PINK": "pink", "GREEN": "green", "WHITE": "white",
    "BLACK": "black", "IVORY": "ivory", "CREAM": "cream", "SILVER": "silver", "GOLD": "gold",
    "PURPLE": "purple", "YELLOW": "yellow", "ORANGE": "orange", "BROWN": "brown",
    "GREY": "grey", "GRAY": "grey", "TURQUOISE": "turquoise", "LILAC": "lilac",
    "FUSCHIA": "fuchsia", "FUCHSIA": "fuchsia", "NAVY": "navy", "BEIGE": "beige",
    "COPPER": "copper", "TEAL": "teal", "AQUA": "aqua", "LAVENDER": "lavender",
    "MAGENTA": "magenta", "MAUVE": "mauve", "KHAKI": "khaki", "AMBER": "amber",
}


def tokens(text: str) -> list[str]:
    """The upper-cased words of ``text`` (hyphenated and apostrophe words kept whole)."""
    return _TOKEN.findall(text.upper())


def categories_of(text: str) -> list[str]:
    """The derived category paths of a description (see ``CATEGORY_RULES``)."""
    padded = " " + " ".join(tokens(text)) + " "
    out = []
    for path, include, exclude in CATEGORY_RULES:
        if any(f" {p} " in padded for p in include) and not any(
            f" {p} " in padded for p in exclude
        ):
            out.append(path)
    return out or [OTHER]


def colour_of(text: str) -> str | None:
    """The first colour word of a description, as a lower-case facet value."""
    for tok in tokens(text):
        colour = COLOURS.get(tok)
        if colour is not None:
            return colour
    return None


def sentence_case(text: str) -> str:
    """``"WHITE HANGING HEART T-LIGHT HOLDER"`` -> ``"White hanging heart t-light holder"``."""
    text = " ".join(text.split())
    return text[:1].upper() + text[1:].lower()


def find_data_dir(start: Path | None = None) -> Path:
    """Where the bundled files are: ``$ENDCAP_SAMPLE_DATA``, else ``data/online-retail``
    found by walking up from this module (or from ``start``), else from the working
    directory (for an installed, non-editable package run from a checkout)."""
    env = os.environ.get(ENV_VAR)
    if env:
        base = Path(env).expanduser()
        for cand in (base, base / DATA_DIR_NAME, base / "data" / DATA_DIR_NAME):
            if any(cand.glob(PART_GLOB)):
                return cand
        raise FileNotFoundError(f"${ENV_VAR}={env} holds no {PART_GLOB}")
    here = (start or Path(__file__)).resolve()
    cwd = Path.cwd().resolve()
    for parent in (here, *here.parents, cwd, *cwd.parents):
        cand = parent / "data" / DATA_DIR_NAME
        if any(cand.glob(PART_GLOB)):
            return cand
    raise FileNotFoundError(
        f"data/{DATA_DIR_NAME} not found above {here}; set ${ENV_VAR} to its directory"
    )


def data_files(path: Path | None = None) -> list[Path]:
    """The CSV parts to read: all parts of a directory in name order, or one file."""
    p = find_data_dir() if path is None else Path(path)
    if p.is_dir():
        files = sorted(p.glob(PART_GLOB))
        if not files:
            raise FileNotFoundError(f"{p} holds no {PART_GLOB}")
        return files
    if not p.exists():
        raise FileNotFoundError(p)
    return [p]


def iter_rows(files: Iterable[Path]) -> Iterator[list[str]]:
    """The data rows of every part (each part's own header line skipped)."""
    for f in files:
        raw = gzip.open(f, "rb") if f.name.endswith(".gz") else open(f, "rb")  # noqa: SIM115
        with raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            reader = csv.reader(text)
            header = next(reader, None)
            if header is None:
                continue
            if header[:2] != ["InvoiceNo", "StockCode"]:
                raise ValueError(f"{f}: unexpected header {header}")
            yield from reader


def is_product_code(code: str) -> bool:
    """True for an (upper-cased) stock code that names a product."""
    return PRODUCT_CODE.match(code) is not None and code not in SERVICE_CODES


@dataclass(slots=True)
class _Code:
    """What is gathered about one stock code."""

    sale_names: dict[str, int] = field(default_factory=dict)
    cancel_names: dict[str, int] = field(default_factory=dict)
    prices: list[float] = field(default_factory=list)
    first_sale: float | None = None


@dataclass(slots=True)
class _Invoice:
    ts: float
    user_id: str | None
    lines: dict[str, list[float]] = field(default_factory=dict)  # code -> [qty, price]


def _most_frequent(counts: dict[str, int]) -> str:
    """The most frequent key; ties go to the first one seen (dicts keep insertion order)."""
    best, n = "", 0
    for k, c in counts.items():
        if c > n:
            best, n = k, c
    return best


def load_online_retail(path: Path | None = None, *, progress: bool = False) -> SampleShop:
    """Load the UCI Online Retail data as endcap items and events.

    ``path`` is the directory of the ``online_retail.part-*.csv.gz`` files (or one CSV
    file); by default the bundled ``data/online-retail`` (see :func:`find_data_dir`).
    Deterministic: items come sorted by id, events by (timestamp, event_id).
    """
    codes: dict[str, _Code] = {}
    invoices: dict[str, _Invoice] = {}
    epoch_of: dict[str, float] = {}
    rows: Iterable[list[str]] = iter_rows(data_files(path))
    if progress:
        from tqdm import tqdm

        total = 541_909 if path is None else None  # the bundled data's row count
        rows = tqdm(rows, total=total, unit="row", desc="online-retail")
    for row in rows:
        invoice_no, raw_code, desc, qty_s, date_s, price_s, customer = row[:7]
        code = raw_code.strip().upper()
        if not is_product_code(code):
            continue
        desc = desc.strip()
        if invoice_no.startswith("C"):  # a return of a real product: its name counts
            if desc:
                info = codes.get(code)
                if info is None:
                    info = codes[code] = _Code()
                info.cancel_names[desc] = info.cancel_names.get(desc, 0) + 1
            continue
        qty = int(qty_s)
        price = float(price_s)
        if qty <= 0 or price <= 0 or invoice_no.startswith("A"):
            continue  # stock adjustments ("damages", "check", blank...), bad-debt lines
        info = codes.get(code)
        if info is None:
            info = codes[code] = _Code()
        if desc:
            info.sale_names[desc] = info.sale_names.get(desc, 0) + 1
        ts = epoch_of.get(date_s)
        if ts is None:
            ts = epoch_of[date_s] = datetime.fromisoformat(date_s).replace(tzinfo=UTC).timestamp()
        info.prices.append(price)
        if info.first_sale is None or ts < info.first_sale:
            info.first_sale = ts
        inv = invoices.get(invoice_no)
        if inv is None:
            customer = customer.strip()
            user = str(int(float(customer))) if customer else None
            inv = invoices[invoice_no] = _Invoice(ts, user)
        line = inv.lines.get(code)
        if line is None:
            inv.lines[code] = [float(qty), price]
        else:
            line[0] += qty

    items = [_item(code, codes[code]) for code in sorted(codes)]
    events: list[Event] = []
    for invoice_no, inv in invoices.items():
        events.extend(_invoice_events(invoice_no, inv))
    events.sort(key=lambda e: (e.timestamp, e.event_id))
    n_purchases = sum(1 for e in events if e.type == "purchase")
    users = {e.user_id for e in events if e.user_id is not None}
    description = (
        f"UCI Online Retail: a UK online gift shop, 2010-12-01..2011-12-09 ({CITATION}). "
        f"{len(items):,} products, {n_purchases:,} purchase events from {len(invoices):,} "
        f"invoices, {len(events) - n_purchases:,} view events derived from the invoice lines, "
        f"{len(users):,} known customers. Categories and colour facets are derived from the "
        "product descriptions by keyword rules."
    )
    return SampleShop(items=items, events=events, description=description)


def _item(code: str, info: _Code) -> Item:
    name = _most_frequent(info.sale_names) or _most_frequent(info.cancel_names)
    categories = categories_of(name) if name else [OTHER]
    colour = colour_of(name)
    derived = ["categories"]
    facets: dict[str, str | list[str]] = {}
    if colour is not None:
        facets["color"] = colour
        derived.append("facets.color")
    price = round(statistics.median(info.prices), 2) if info.prices else None
    created = (
        datetime.fromtimestamp(info.first_sale, UTC) if info.first_sale is not None else None
    )
    return Item(
        id=code,
        name=name,
        description=sentence_case(name),
        price=price,
        currency=CURRENCY,
        categories=categories,
        facets=facets,
        in_stock=True,
        created_at=created,
        metadata={"source": SOURCE, "derived": derived},
    )


def _invoice_events(invoice_no: str, inv: _Invoice) -> list[Event]:
    session = f"inv-{invoice_no}"
    codes = list(inv.lines)
    n = len(codes)
    step = min(VIEW_STEP, VIEW_WINDOW / n)
    out = [
        Event(
            event_id=f"view-{invoice_no}-{code}",
            type="view",
            user_id=inv.user_id,
            session_id=session,
            item_id=code,
            timestamp=inv.ts - step * (n - pos),
        )
        for pos, code in enumerate(codes)
    ]
    for chunk_no, start in enumerate(range(0, n, MAX_LINES)):
        lines = [
            Line(id=code, quantity=int(inv.lines[code][0]), price=inv.lines[code][1])
            for code in codes[start : start + MAX_LINES]
        ]
        revenue = round(sum(ln.quantity * (ln.price or 0.0) for ln in lines), 2)
        suffix = "" if chunk_no == 0 else f"-{chunk_no + 1}"
        out.append(
            Event(
                event_id=f"purchase-{invoice_no}{suffix}",
                type="purchase",
                user_id=inv.user_id,
                session_id=session,
                items=lines,
                revenue=revenue,
                timestamp=inv.ts,
            )
        )
    return out
