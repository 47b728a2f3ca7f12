"""Deterministic demo and benchmark data, loaded through the real command bus.

    seed_plan = plan(products=5_000, seed=42)
    report = await load(catalog, seed_plan, on_progress=lambda done, total: ...)

`plan` is pure: the same arguments always give the same commands, ids included, so every
run and every separation level measures the same work. `load` sends each command down
the ordinary write path (validation, rules, events, sync projections), one at a time.
`catalog.seed_bulk` loads the same plan into an empty catalog many commands per
transaction, for benchmark-sized catalogs.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING

import orjson

from catalog import seed_words as words
from catalog.domain import commands as c
from tandem.codec import to_data
from tandem.messages import Command

if TYPE_CHECKING:
    from catalog.runtime.contract import Runtime

MIN_PRICE = 1.99
MAX_PRICE = 2499.00
CHILDREN_PER_ROOT = 5
MAX_CATEGORIES = (
    len(words.TAXONOMY)
    + sum(len(children) for _, _, children in words.TAXONOMY)
    + sum(len(leaves) for *_, children in words.TAXONOMY for _, leaves in children)
    * (1 + len(words.QUALIFIERS))
)
ZERO_STOCK_SHARE = 0.08
PRICE_CHANGE_SHARE = 0.05
STOCK_ADJUSTMENT_SHARE = 0.04
PRODUCTS_PER_ORDER = 50
PRODUCTS_PER_CUSTOMER = 100
ZIPF_EXPONENT = 1.0
ADMIN_SUBJECT = "admin"


@dataclass(frozen=True)
class _Kind:
    """What a category's products are: root (naming style), noun, price, attribute keys."""

    root: str
    noun: str
    price: float
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class _Leaf:
    """A category that holds products, and the SKU prefix of its products."""

    id: str
    code: str
    kinds: tuple[_Kind, ...]


@dataclass(frozen=True)
class SeedPlan:
    """Every command of a seed, in dispatch order, plus the products' popularity.

    `popularity[i]` is the Zipf weight of `product_ids[i]`; benchmark drivers draw
    skewed ids with `popular_ids`.
    """

    seed: int
    categories: tuple[c.CreateCategory, ...]
    products: tuple[c.CreateProduct, ...]
    product_ids: tuple[str, ...]
    popularity: tuple[float, ...]
    follow_ups: tuple[Command, ...]

    @property
    def total(self) -> int:
        """How many commands `load` dispatches."""
        return len(self.categories) + len(self.products) + len(self.follow_ups)

    def commands(self) -> Iterator[Command]:
        """Categories (parents first), then products, then the follow-up traffic."""
        return itertools.chain(self.categories, self.products, self.follow_ups)

    @cached_property
    def cum_weights(self) -> tuple[float, ...]:
        """Cumulative popularity, aligned with `product_ids` (for `random.choices`)."""
        return tuple(itertools.accumulate(self.popularity))

    def popular_ids(self, k: int, rng: random.Random) -> list[str]:
        """`k` product ids drawn with Zipf skew (repeats allowed), reproducible via `rng`."""
        return rng.choices(self.product_ids, cum_weights=self.cum_weights, k=k)

    def fingerprint(self) -> str:
        """A SHA-256 of every planned command: equal fingerprints, identical data."""
        digest = hashlib.sha256()
        for command in self.commands():
            digest.update(type(command).__name__.encode())
            digest.update(orjson.dumps(to_data(command), option=orjson.OPT_SORT_KEYS))
        return digest.hexdigest()


@dataclass(frozen=True)
class SeedReport:
    """What `load` dispatched, the event-log version it ended at, and how long it took."""

    categories: int
    products: int
    price_changes: int
    stock_adjustments: int
    cart_lines: int
    orders: int
    commands: int
    version: int
    seconds: float

    @classmethod
    def of(cls, counts: Counter[type], commands: int, version: int, started: float) -> SeedReport:
        """The report of a load that ran `counts` commands by type since `started`
        (`time.perf_counter()`) and ended at event-log `version`."""
        return cls(
            categories=counts[c.CreateCategory],
            products=counts[c.CreateProduct],
            price_changes=counts[c.ChangePrice],
            stock_adjustments=counts[c.AdjustStock],
            cart_lines=counts[c.AddToCart],
            orders=counts[c.PlaceOrder],
            commands=commands,
            version=version,
            seconds=time.perf_counter() - started,
        )

    @property
    def commands_per_second(self) -> float:
        return self.commands / self.seconds if self.seconds > 0 else 0.0


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _kind(root: int, child: str, spec: words.LeafSpec, factor: float = 1.0) -> _Kind:
    root_name, _, _ = words.TAXONOMY[root]
    _, noun, price = spec
    if noun in words.POWERED_NOUNS:
        keys = words.POWERED_ATTRIBUTES
    else:
        keys = words.CHILD_ATTRIBUTES.get(child, words.ROOT_ATTRIBUTES[root_name])
    return _Kind(root_name, noun, price * factor, keys)


def _plan_categories(rng: random.Random, count: int) -> tuple[list[c.CreateCategory], list[_Leaf]]:
    """A 3-level tree: ~8 roots, 5 children each, the rest spread as grand-children.

    Children go round-robin over the roots and grand-children over the children, so
    the tree stays balanced; nodes left without children hold products themselves.
    """
    n_roots = max(1, min(len(words.TAXONOMY), round(count / 25)))
    n_children = min(n_roots * CHILDREN_PER_ROOT, count - n_roots)
    commands: list[c.CreateCategory] = []
    leaves: list[_Leaf] = []

    def add(name: str, parent: str | None, root: int, kinds: Sequence[_Kind]) -> str:
        id = _new_id(rng)
        commands.append(c.CreateCategory(id=id, name=name, parent_id=parent))
        if kinds:
            leaves.append(_Leaf(id, f"{words.TAXONOMY[root][1]}{len(leaves):03d}", tuple(kinds)))
        return id

    roots = [
        add(words.TAXONOMY[r][0], None, r, [] if r < n_children else [
            _kind(r, child, spec) for child, specs in words.TAXONOMY[r][2] for spec in specs
        ])
        for r in range(n_roots)
    ]  # fmt: skip
    n_grand = count - n_roots - n_children
    children: list[tuple[str, int, str, list[words.LeafSpec]]] = []
    for k in range(n_children):
        r = k % n_roots
        name, child_specs = words.TAXONOMY[r][2][k // n_roots]
        shuffled = list(child_specs)
        rng.shuffle(shuffled)  # which leaves a smaller tree keeps varies with the seed
        own = [] if k < n_grand else [_kind(r, name, spec) for spec in shuffled]
        children.append((add(name, roots[r], r, own), r, name, shuffled))
    for k in range(n_grand):
        parent, r, child, specs = children[k % n_children]
        j = k // n_children
        spec = specs[j % len(specs)]
        qualifier, factor = ("", 1.0) if j < len(specs) else words.QUALIFIERS[j // len(specs) - 1]
        add(f"{qualifier} {spec[0]}".strip(), parent, r, [_kind(r, child, spec, factor)])
    return commands, leaves


def _charm_price(rng: random.Random, amount: float) -> Decimal:
    """A shelf price: whole units plus a usual ending (.99, .49, .95, .00), in range."""
    cents = rng.choice((99, 99, 99, 49, 95, 0))
    price = Decimal(f"{int(min(max(amount, 0.0), MAX_PRICE))}.{cents:02d}")
    return min(max(price, Decimal(f"{MIN_PRICE:.2f}")), Decimal(f"{MAX_PRICE:.2f}"))


def _product(rng: random.Random, n: int, leaf: _Leaf) -> c.CreateProduct:
    kind = leaf.kinds[0] if len(leaf.kinds) == 1 else rng.choice(leaf.kinds)
    author = ""
    if kind.root == "Books":
        name = rng.choice(words.TITLE_PATTERNS).format(
            adj=rng.choice(words.TITLE_ADJECTIVES),
            noun=rng.choice(words.TITLE_NOUNS),
            other=rng.choice(words.TITLE_NOUNS),
        )
        author = f"{rng.choice(words.FIRST_NAMES)} {rng.choice(words.LAST_NAMES)}"
        a_noun = f"{'an' if kind.noun[0] in 'aeiou' else 'a'} {kind.noun}"
        blurbs = rng.sample(words.BOOK_BLURBS, rng.randint(1, 3))
        description = " ".join(b.format(author=author, a_noun=a_noun) for b in blurbs)
    else:
        adjective = rng.choice(words.ADJECTIVES)
        while adjective in kind.noun.split():  # no "Trail Trail Running Shoe"
            adjective = rng.choice(words.ADJECTIVES)
        model = f"{''.join(rng.choices(words.MODEL_LETTERS, k=2))}-{rng.randrange(100, 1000, 10)}"
        name = f"{rng.choice(words.BRANDS)} {adjective} {kind.noun} {model}"
        parts = [rng.choice(words.OPENERS), rng.choice(words.MIDDLES), rng.choice(words.CLOSERS)]
        feature, use = rng.choice(words.FEATURES), rng.choice(words.USES)
        description = " ".join(
            p.format(name=name, feature=feature, use=use) for p in parts[: rng.randint(1, 3)]
        )
    keys = kind.attributes
    chosen = sorted(rng.sample(range(len(keys)), rng.randint(2, min(5, len(keys)))))
    values = words.ROOT_VALUES.get(kind.root, {})
    attributes = {
        key: author if key == "author" else rng.choice(values.get(key, words.ATTRIBUTE_VALUES[key]))
        for key in (keys[i] for i in chosen)
    }
    price = _charm_price(rng, kind.price * rng.lognormvariate(0.0, 0.35))
    if rng.random() < ZERO_STOCK_SHARE:
        stock = 0
    elif rng.random() < 0.02:
        stock = rng.randint(501, 2000)  # a few bulk lines
    else:
        stock = min(500, 1 + int(rng.expovariate(1 / 80)))
    return c.CreateProduct(
        id=_new_id(rng),
        sku=f"{leaf.code}-{n:06d}",
        name=name,
        description=description,
        category_id=leaf.id,
        price=price,
        attributes=attributes,
        initial_stock=stock,
    )


def _plan_follow_ups(
    rng: random.Random, products: Sequence[c.CreateProduct], cum_weights: Sequence[float]
) -> list[Command]:
    """Price changes, stock movements and a few orders, valid against simulated stock."""
    count = len(products)
    stock = [p.initial_stock for p in products]
    price = [p.price for p in products]
    ids = [p.id or "" for p in products]
    n_price = round(count * PRICE_CHANGE_SHARE)
    kinds = (["price"] * n_price + ["stock"] * round(count * STOCK_ADJUSTMENT_SHARE)
             + ["order"] * (count // PRODUCTS_PER_ORDER))  # fmt: skip
    rng.shuffle(kinds)
    repriced = iter(rng.sample(range(count), n_price))
    customers = [f"customer-{i + 1:04d}" for i in range(max(1, count // PRODUCTS_PER_CUSTOMER))]
    out: list[Command] = []
    for kind in kinds:
        if kind == "price":
            i = next(repriced)
            factor = rng.choice((0.7, 0.8, 0.85, 0.9, 1.05, 1.1, 1.15))
            price[i] = _charm_price(rng, float(price[i]) * factor)
            out.append(c.ChangePrice(product_id=ids[i], price=price[i]))
        elif kind == "stock":
            i = rng.randrange(count)
            if stock[i] == 0 or rng.random() < 0.6:
                delta = rng.randint(20, 200)
                reason = rng.choice(words.STOCK_REASONS_IN)
            else:
                delta = -rng.randint(1, min(5, stock[i]))
                reason = rng.choice(words.STOCK_REASONS_OUT)
            stock[i] += delta
            out.append(c.AdjustStock(product_id=ids[i], delta=delta, reason=reason))
        else:
            customer = rng.choice(customers)
            cart_id, order_id = _new_id(rng), _new_id(rng)
            # Shoppers pick popular products; out-of-stock picks are simply skipped.
            picks = rng.choices(range(count), cum_weights=cum_weights, k=rng.choice((1, 1, 2, 3)))
            lines: list[Command] = []
            for i in dict.fromkeys(picks):
                quantity = min(stock[i], rng.choice((1, 1, 1, 2, 3)))
                if quantity > 0:
                    stock[i] -= quantity
                    line = c.AddToCart(
                        cart_id=cart_id, product_id=ids[i], quantity=quantity, customer=customer
                    )
                    lines.append(line)
            if lines:
                out.extend(lines)
                out.append(c.PlaceOrder(cart_id=cart_id, order_id=order_id, customer=customer))
    return out


def plan(products: int, seed: int, categories: int = 200) -> SeedPlan:
    """Plan a catalog of `products` products in about `categories` categories.

    Pure and deterministic: ids come from seeded generators, never from the clock or
    `uuid4`, so equal arguments give equal plans (and equal `fingerprint()`s).
    Independent generators per part keep the category tree the same for every
    product count, and a smaller catalog's products a prefix of a larger one's.
    """
    if products < 0:
        raise ValueError("products must not be negative")
    if not 1 <= categories <= MAX_CATEGORIES:
        raise ValueError(f"categories must be between 1 and {MAX_CATEGORIES}")
    category_commands, leaves = _plan_categories(random.Random(f"{seed}:categories"), categories)
    # Leaf picks get their own generator so each product's draws (and so the prefix
    # property above) do not depend on how many products are planned.
    sizes = random.Random(f"{seed}:leaves")
    leaf_weights = list(itertools.accumulate(sizes.lognormvariate(0.0, 0.6) for _ in leaves))
    chosen = sizes.choices(leaves, cum_weights=leaf_weights, k=products)
    rng = random.Random(f"{seed}:products")
    planned = tuple(_product(rng, n, leaf) for n, leaf in enumerate(chosen))
    # Popularity follows rank, and ranks are a shuffle, so it is unrelated to creation order.
    ranks = list(range(products))
    random.Random(f"{seed}:popularity").shuffle(ranks)
    popularity = tuple(1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in ranks)
    cum_weights = list(itertools.accumulate(popularity))
    follow_ups = _plan_follow_ups(random.Random(f"{seed}:follow-ups"), planned, cum_weights)
    return SeedPlan(
        seed=seed,
        categories=tuple(category_commands),
        products=planned,
        product_ids=tuple(p.id or "" for p in planned),
        popularity=popularity,
        follow_ups=tuple(follow_ups),
    )


async def load(
    catalog: Runtime,
    plan: SeedPlan,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Dispatch every planned command through `catalog.command_bus`, in order.

    Calls `on_progress(done, total)` about a hundred times. Returns the counts and the
    event-log version of the last command; asynchronous projections may still be
    behind it (`await catalog.wait_until_caught_up()` waits for them).
    A failing command propagates, annotated with its place in the plan.
    """
    total = plan.total
    every = max(1, total // 100)
    counts: Counter[type] = Counter()
    version = catalog.head.value
    started = time.perf_counter()
    for done, command in enumerate(plan.commands(), 1):
        try:
            result = await catalog.command_bus.dispatch(command, subject=ADMIN_SUBJECT)
        except Exception as exc:
            exc.add_note(f"seed command {done} of {total}: {type(command).__name__}")
            raise
        version = result.version
        counts[type(command)] += 1
        if on_progress is not None and (done % every == 0 or done == total):
            on_progress(done, total)
    return SeedReport.of(counts, total, version, started)
