"""A seeded synthetic catalog with ESCI-style judged queries, used when ../shared/datasets is absent (and in tests).

Products: brand + adjective + material + product type + colour titles, browse categories, lognormal prices,
ratings, bullets and descriptions. Queries name a product type plus optionally a colour, brand or adjective;
each query's judged pool (~40 products) mixes Exact items (all specs met), Substitutes (same or sibling type,
one spec missed), Complements (accessories whose titles mention the queried type: lexical traps for BM25) and
Irrelevant items (other types sharing a colour or adjective word). Files use the esci_us_150q schema.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..metrics import ESCI_GAINS, ESCI_GRADES
from .catalog import Dataset, prepare, write_csv_gz, write_jsonl_gz


@dataclass(frozen=True)
class PType:
    name: str
    category: tuple[str, ...]
    price: float
    materials: tuple[str, ...]
    siblings: tuple[str, ...] = ()
    complements: tuple[str, ...] = ()


TYPES: tuple[PType, ...] = (
    PType(
        "running shoes",
        ("Clothing, Shoes & Jewelry", "Men", "Shoes", "Athletic"),
        70,
        ("mesh", "knit"),
        ("trail shoes", "walking shoes"),
        ("shoe laces", "running socks"),
    ),
    PType(
        "trail shoes",
        ("Clothing, Shoes & Jewelry", "Men", "Shoes", "Outdoor"),
        90,
        ("mesh", "leather"),
        ("running shoes", "hiking boots"),
        ("running socks",),
    ),
    PType(
        "walking shoes",
        ("Clothing, Shoes & Jewelry", "Women", "Shoes", "Walking"),
        60,
        ("knit", "leather"),
        ("running shoes",),
        ("shoe laces",),
    ),
    PType(
        "hiking boots",
        ("Clothing, Shoes & Jewelry", "Men", "Shoes", "Boots"),
        120,
        ("leather", "suede"),
        ("trail shoes",),
        ("running socks",),
    ),
    PType(
        "running socks",
        ("Clothing, Shoes & Jewelry", "Men", "Socks"),
        14,
        ("cotton", "merino wool"),
        ("crew socks",),
        (),
    ),
    PType(
        "crew socks", ("Clothing, Shoes & Jewelry", "Women", "Socks"), 12, ("cotton", "bamboo"), ("running socks",), ()
    ),
    PType("shoe laces", ("Clothing, Shoes & Jewelry", "Shoe Care", "Laces"), 7, ("polyester", "cotton"), (), ()),
    PType(
        "rain jacket",
        ("Clothing, Shoes & Jewelry", "Women", "Coats & Jackets"),
        65,
        ("nylon", "polyester"),
        ("windbreaker",),
        (),
    ),
    PType("windbreaker", ("Clothing, Shoes & Jewelry", "Men", "Coats & Jackets"), 45, ("nylon",), ("rain jacket",), ()),
    PType(
        "backpack",
        ("Luggage", "Backpacks"),
        45,
        ("canvas", "nylon", "leather"),
        ("laptop bag", "duffel bag"),
        ("rain cover",),
    ),
    PType(
        "laptop bag",
        ("Electronics", "Computers", "Laptop Accessories", "Bags"),
        40,
        ("canvas", "leather"),
        ("backpack",),
        ("laptop stand",),
    ),
    PType("duffel bag", ("Luggage", "Travel Duffels"), 50, ("canvas", "nylon"), ("backpack",), ()),
    PType("rain cover", ("Luggage", "Accessories"), 12, ("nylon",), (), ()),
    PType(
        "coffee maker",
        ("Home & Kitchen", "Kitchen & Dining", "Coffee Machines"),
        80,
        ("stainless steel", "plastic"),
        ("espresso machine", "french press"),
        ("coffee filters", "coffee grinder"),
    ),
    PType(
        "espresso machine",
        ("Home & Kitchen", "Kitchen & Dining", "Coffee Machines"),
        250,
        ("stainless steel",),
        ("coffee maker",),
        ("milk frother", "coffee grinder"),
    ),
    PType(
        "french press",
        ("Home & Kitchen", "Kitchen & Dining", "Coffee Tools"),
        25,
        ("glass", "stainless steel"),
        ("coffee maker",),
        ("coffee grinder",),
    ),
    PType(
        "coffee grinder",
        ("Home & Kitchen", "Kitchen & Dining", "Coffee Tools"),
        35,
        ("stainless steel", "ceramic"),
        (),
        (),
    ),
    PType("coffee filters", ("Home & Kitchen", "Kitchen & Dining", "Coffee Tools"), 8, ("paper",), (), ()),
    PType("milk frother", ("Home & Kitchen", "Kitchen & Dining", "Coffee Tools"), 20, ("stainless steel",), (), ()),
    PType(
        "water bottle",
        ("Sports & Outdoors", "Hydration"),
        22,
        ("stainless steel", "plastic", "glass"),
        ("tumbler",),
        ("bottle brush",),
    ),
    PType(
        "tumbler", ("Home & Kitchen", "Drinkware"), 25, ("stainless steel", "glass"), ("water bottle",), ("straw lid",)
    ),
    PType("bottle brush", ("Home & Kitchen", "Cleaning"), 8, ("silicone", "nylon"), (), ()),
    PType("straw lid", ("Home & Kitchen", "Drinkware", "Accessories"), 9, ("silicone", "plastic"), (), ()),
    PType(
        "yoga mat",
        ("Sports & Outdoors", "Yoga"),
        30,
        ("rubber", "cork", "foam"),
        ("exercise mat",),
        ("yoga blocks", "mat strap"),
    ),
    PType(
        "exercise mat",
        ("Sports & Outdoors", "Exercise & Fitness"),
        35,
        ("foam", "rubber"),
        ("yoga mat",),
        ("resistance bands",),
    ),
    PType("yoga blocks", ("Sports & Outdoors", "Yoga"), 15, ("cork", "foam"), (), ()),
    PType("mat strap", ("Sports & Outdoors", "Yoga"), 9, ("cotton",), (), ()),
    PType("resistance bands", ("Sports & Outdoors", "Exercise & Fitness"), 20, ("latex", "fabric"), (), ()),
    PType(
        "desk lamp",
        ("Tools & Home Improvement", "Lighting", "Lamps"),
        35,
        ("metal", "wood", "plastic"),
        ("floor lamp",),
        ("led bulbs",),
    ),
    PType(
        "floor lamp",
        ("Tools & Home Improvement", "Lighting", "Lamps"),
        70,
        ("metal", "wood"),
        ("desk lamp",),
        ("led bulbs",),
    ),
    PType("led bulbs", ("Tools & Home Improvement", "Lighting", "Bulbs"), 15, ("glass",), (), ()),
    PType(
        "wireless earbuds",
        ("Electronics", "Headphones", "Earbuds"),
        60,
        ("plastic",),
        ("headphones",),
        ("charging case", "ear tips"),
    ),
    PType(
        "headphones",
        ("Electronics", "Headphones", "Over-Ear"),
        90,
        ("plastic", "aluminum"),
        ("wireless earbuds",),
        ("headphone stand",),
    ),
    PType("charging case", ("Electronics", "Headphones", "Accessories"), 18, ("plastic", "silicone"), (), ()),
    PType("ear tips", ("Electronics", "Headphones", "Accessories"), 10, ("silicone", "memory foam"), (), ()),
    PType("headphone stand", ("Electronics", "Headphones", "Accessories"), 20, ("aluminum", "wood"), (), ()),
    PType(
        "phone case",
        ("Cell Phones & Accessories", "Cases"),
        15,
        ("silicone", "leather", "plastic"),
        ("phone wallet",),
        ("screen protector",),
    ),
    PType("phone wallet", ("Cell Phones & Accessories", "Cases"), 20, ("leather",), ("phone case",), ()),
    PType("screen protector", ("Cell Phones & Accessories", "Screen Protectors"), 9, ("tempered glass",), (), ()),
    PType("laptop stand", ("Electronics", "Computers", "Laptop Accessories"), 30, ("aluminum", "wood"), (), ()),
    PType(
        "office chair",
        ("Home & Kitchen", "Furniture", "Office Chairs"),
        160,
        ("mesh", "leather", "fabric"),
        ("gaming chair",),
        ("chair mat", "seat cushion"),
    ),
    PType(
        "gaming chair",
        ("Home & Kitchen", "Furniture", "Gaming Chairs"),
        180,
        ("leather", "fabric"),
        ("office chair",),
        ("seat cushion",),
    ),
    PType("chair mat", ("Home & Kitchen", "Furniture", "Accessories"), 35, ("plastic",), (), ()),
    PType("seat cushion", ("Home & Kitchen", "Furniture", "Accessories"), 28, ("memory foam",), (), ()),
    PType("dog bed", ("Pet Supplies", "Dogs", "Beds"), 45, ("fleece", "memory foam"), ("cat bed",), ("dog blanket",)),
    PType("cat bed", ("Pet Supplies", "Cats", "Beds"), 30, ("fleece", "plush"), ("dog bed",), ()),
    PType("dog blanket", ("Pet Supplies", "Dogs", "Blankets"), 18, ("fleece",), (), ()),
    PType("dog leash", ("Pet Supplies", "Dogs", "Leashes"), 16, ("nylon", "leather"), ("dog harness",), ("poop bags",)),
    PType("dog harness", ("Pet Supplies", "Dogs", "Harnesses"), 24, ("nylon", "mesh"), ("dog leash",), ("poop bags",)),
    PType("poop bags", ("Pet Supplies", "Dogs", "Waste Bags"), 10, ("plastic",), (), ()),
    PType("cookbook", ("Books", "Cookbooks, Food & Wine"), 22, ("hardcover", "paperback"), ("baking book",), ()),
    PType(
        "baking book", ("Books", "Cookbooks, Food & Wine", "Baking"), 20, ("hardcover", "paperback"), ("cookbook",), ()
    ),
)
TYPE_BY_NAME = {t.name: t for t in TYPES}

BRANDS = (
    "Aldercrest",
    "Brightwell",
    "Cobaltline",
    "Driftwood Co",
    "Emberly",
    "Fernhill",
    "Granitepeak",
    "Hollowbrook",
    "Ironvale",
    "Juniper & Finch",
    "Kestrel",
    "Lumora",
    "Marlowe",
    "Northwind",
    "Oakhaven",
    "Pinecrest",
    "Quillon",
    "Riverstone",
    "Sablewood",
    "Tidewater",
    "Umberfield",
    "Vantora",
    "Willowmere",
    "Xeno",
    "Yarrow",
    "Zephyra",
    "Arcadia Home",
    "Bolt & Nut",
    "Cedarline",
    "Dunmore",
    "Everpeak",
    "Foxglove",
    "Glenhaven",
    "Harborview",
    "Islebrook",
    "Jasperlane",
)
ADJECTIVES = (
    "lightweight",
    "waterproof",
    "portable",
    "compact",
    "ergonomic",
    "premium",
    "durable",
    "adjustable",
    "foldable",
    "classic",
    "slim",
    "heavy duty",
    "breathable",
    "insulated",
    "cordless",
    "rechargeable",
    "vintage",
    "modern",
    "non slip",
    "quiet",
)
COLORS = (
    "black",
    "white",
    "red",
    "blue",
    "navy",
    "green",
    "olive",
    "gray",
    "pink",
    "purple",
    "beige",
    "brown",
    "yellow",
    "orange",
    "teal",
    "silver",
)
AUDIENCE = ("for men", "for women", "for kids", "for travel", "for home", "for office", "for outdoor use", "")
BULLET_TEMPLATES = (
    "{Adj} design: made of {material} for everyday use",
    "Easy care: wipe clean or machine washable where noted",
    "Dimensions fit most users; see size chart before ordering",
    "Satisfaction guarantee: 30-day returns from {brand}",
    "Great gift idea {audience}",
    "Colour: {color}; finish may vary slightly from photos",
    "Pairs well with our {other}",
)


def _product(rng: random.Random, idx: int, t: PType, brand: str, color: str, adjs: list[str]) -> dict[str, Any]:
    material = rng.choice(t.materials)
    audience = rng.choice(AUDIENCE)
    other = rng.choice(TYPES).name
    words = [brand, *adjs, material, t.name]
    title = " ".join(w for w in words if w).title().replace("&", "&")
    if audience:
        title += f" {audience.capitalize()}"
    if rng.random() < 0.8:
        title += f", {color.title()}"
    if rng.random() < 0.3:
        title += f" - Pack of {rng.choice([1, 2, 3, 4, 6])}"
    fill = {
        "Adj": (adjs[0] if adjs else "Thoughtful").capitalize(),
        "material": material,
        "brand": brand,
        "audience": audience or "for anyone",
        "color": color,
        "other": other,
    }
    bullets = "\n".join(tpl.format(**fill) for tpl in rng.sample(BULLET_TEMPLATES, k=rng.randint(3, 5)))
    desc = (
        ""
        if rng.random() < 0.35
        else (
            f"The {brand} {t.name} is {', '.join(adjs) or 'simple'} and built from {material}. "
            f"It comes in {color} and is designed {audience or 'for daily use'}. "
            + rng.choice(
                [
                    "Backed by a one year warranty.",
                    "Ships in recyclable packaging.",
                    "Customers love its value.",
                    f"Try it with a {other}.",
                ]
            )
        )
    )
    price = round(max(2.0, rng.lognormvariate(0, 0.35) * t.price), 2)
    has_rating = rng.random() < 0.95
    return {
        "product_id": f"SYN{idx:07d}",
        "title": title,
        "description": desc,
        "bullet_points": bullets,
        "brand": brand if rng.random() > 0.02 else None,
        "color": color if rng.random() > 0.15 else None,
        "category": list(t.category),
        "price": price if rng.random() > 0.5 else None,
        "rating": round(min(5.0, max(1.0, rng.gauss(4.2, 0.5))), 1) if has_rating else None,
        "rating_count": int(rng.lognormvariate(4, 1.5)) if has_rating else None,
        "is_book": t.category[0] == "Books",
        # generator-side attributes (dropped before writing)
        "_type": t.name,
        "_color": color,
        "_brand": brand,
        "_adjs": tuple(adjs),
    }


def generate(
    n_products: int = 5200, n_queries: int = 120, pool: int = 40, seed: int = 7
) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]], list[tuple[int, str, str, int, float]]]:
    """(products in ESCI schema, queries rows, labels rows) — deterministic for a seed."""
    rng = random.Random(seed)
    products = []
    for i in range(n_products):
        t = TYPES[i % len(TYPES)] if i < len(TYPES) * 20 else rng.choice(TYPES)
        adjs = rng.sample(ADJECTIVES, k=rng.choice([0, 1, 1, 2]))
        products.append(_product(rng, i, t, rng.choice(BRANDS), rng.choice(COLORS), adjs))
    by_type: dict[str, list[dict[str, Any]]] = {}
    for p in products:
        by_type.setdefault(p["_type"], []).append(p)

    queries: list[tuple[int, str, str]] = []
    labels: list[tuple[int, str, str, int, float]] = []
    seen_q: set[str] = set()
    qid = 1000
    while len(queries) < n_queries:
        t = rng.choice([t for t in TYPES if t.siblings or t.complements])
        same = by_type[t.name]
        spec: dict[str, str] = {}
        r = rng.random()
        anchor = rng.choice(same)
        if r < 0.45:
            spec["color"] = anchor["_color"]
        if 0.3 < r < 0.6:
            spec["brand"] = anchor["_brand"]
        if r > 0.55 and anchor["_adjs"]:
            spec["adj"] = anchor["_adjs"][0]
        parts = [spec.get("brand", ""), spec.get("adj", ""), spec.get("color", ""), t.name]
        text = " ".join(p for p in parts if p).lower()
        if rng.random() < 0.15:
            text += rng.choice([" for men", " for women", " cheap", " best"])
        if text in seen_q:
            continue
        seen_q.add(text)
        qid += rng.randint(1, 40)
        esci_source = rng.choice(["parse_pattern", "other", "behavioral", "negations"])

        def meets(p: dict[str, Any], spec: dict[str, Any] = spec) -> bool:
            return (
                (("color" not in spec) or p["_color"] == spec["color"])
                and (("brand" not in spec) or p["_brand"] == spec["brand"])
                and (("adj" not in spec) or spec["adj"] in p["_adjs"])
            )

        exact = [p for p in same if meets(p)]
        subs = [p for p in same if not meets(p)] + [p for s in t.siblings for p in by_type.get(s, [])]
        comps = [p for c in t.complements for p in by_type.get(c, [])]
        irr = [
            p
            for p in products
            if p["_type"] != t.name
            and p["_type"] not in t.siblings
            and p["_type"] not in t.complements
            and (p["_color"] == spec.get("color") or spec.get("adj") in p["_adjs"] or rng.random() < 0.01)
        ]
        n_e = min(len(exact), rng.randint(6, 18))
        n_c = min(len(comps), rng.randint(3, 8))
        n_i = min(len(irr), rng.randint(4, 10))
        n_s = min(len(subs), pool - n_e - n_c - n_i)
        chosen: list[tuple[dict[str, Any], str]] = []
        chosen += [(p, "E") for p in rng.sample(exact, n_e)]
        chosen += [(p, "S") for p in rng.sample(subs, n_s)]
        chosen += [(p, "C") for p in rng.sample(comps, n_c)]
        chosen += [(p, "I") for p in rng.sample(irr, n_i)]
        if sum(1 for _, l in chosen if l == "E") < 2:
            continue
        queries.append((qid, text, esci_source))
        for p, lab in sorted(chosen, key=lambda x: x[0]["product_id"]):
            if rng.random() < 0.05:  # annotator noise, as in ESCI
                lab = rng.choice("ESCI")
            labels.append((qid, p["product_id"], lab, ESCI_GRADES[lab], ESCI_GAINS[lab]))
        _mention_complements(rng, chosen, t)
    clean = [{k: v for k, v in p.items() if not k.startswith("_")} for p in products]
    clean.sort(key=lambda p: p["product_id"])
    return clean, queries, labels


def _mention_complements(rng: random.Random, chosen: list[tuple[dict[str, Any], str]], t: PType) -> None:
    """Complement titles say what they are for ("... for Coffee Maker"): the lexical trap BM25 falls into."""
    for p, lab in chosen:
        if lab == "C" and f"for {t.name.title()}" not in p["title"] and rng.random() < 0.8:
            p["title"] = f"{p['title']} - Compatible with {t.name.title()}"


def write(out_dir: Path, n_products: int = 5200, n_queries: int = 120, seed: int = 7) -> Dataset:
    products, queries, labels = generate(n_products, n_queries, seed=seed)
    ds = Dataset("synthetic", out_dir / "products.jsonl.gz", out_dir / "queries.csv.gz", out_dir / "labels.csv.gz")
    write_jsonl_gz(ds.products, products)
    write_csv_gz(ds.queries, ("query_id", "query", "esci_source"), queries)
    write_csv_gz(ds.labels, ("query_id", "product_id", "esci_label", "grade", "gain"), labels)
    return ds


def build_catalog(out_dir: Path, n_products: int = 5200, n_queries: int = 120, seed: int = 7) -> dict[str, Any]:
    """Synthetic dataset + catalog.sqlite/catalog.sql/source.json in ``out_dir`` (what `prepare` does without ESCI)."""
    return prepare(write(out_dir / "synthetic", n_products, n_queries, seed), out_dir)
