"""The cards a training run plays: the shipped cards and prebuilt decks, or a designer's own
cards and decks files (``TrainConfig.cards_file`` and ``decks_file``, the forms of
``prefabs/data/cards.toml`` and ``decks.toml``; ``docs/examples/`` holds a small pair).

A run on its own cards writes the files' text into every checkpoint (``card_files``), beside
the digest of the compiled card table that every checkpoint holds. ``tcg eval``, ``tcg play``
and the checkpoint bot rebuild the cards from the checkpoint alone, so a checkpoint can be
shared without its files; a resumed run reads the files its settings name again and refuses to
go on when they no longer compile to the checkpoint's cards and decks.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from prefabs import CardPool, Deck, DeckError, PrefabError, deck_ids, default_decks, default_pool
from prefabs.loader import DATA_DIR


@dataclass(frozen=True, eq=False)
class RunCards:
    """A run's card pool and decks. ``cards_text``/``decks_text``: the files' text for a run on
    its own cards (both set), None for the shipped ones."""
    pool: CardPool
    decks: dict[str, Deck]
    cards_text: str | None = None
    decks_text: str | None = None

    @property
    def shipped(self) -> bool:
        return self.cards_text is None

    @property
    def digest(self) -> str:
        """Hex digest of the compiled card table (a checkpoint's ``card_table_digest``)."""
        return card_table_digest(self.pool)

    def deck(self, name: str) -> Deck:
        return self.decks[name]

    def pairings(self) -> list[tuple[str, str]]:
        """Every ordered pairing of the decks, seat 0's first (the order ``decks='all'`` deals)."""
        names = list(self.decks)
        return [(a, b) for a in names for b in names]

    def deck_rows(self) -> np.ndarray:
        """int32[decks, 41]: each deck as the engine's row, in ``decks`` order."""
        return np.stack([deck_ids(d, self.pool) for d in self.decks.values()])

    def env_decks(self, pairs):
        """``pairs`` (a list of (name, name)) as :class:`VecTCG`'s ``decks=`` argument."""
        return [(self.decks[a], self.decks[b]) for a, b in pairs]

    def checkpoint_entry(self) -> dict:
        """The keys a checkpoint of a run on these cards carries besides ``card_table_digest``."""
        if self.shipped:
            return {}
        return {"card_files": {"cards": self.cards_text, "decks": self.decks_text}}

    def same_as(self, other: "RunCards") -> bool:
        """The same compiled cards and the same decks (by name, order and cards)."""
        return self.difference(other) is None

    def difference(self, other: "RunCards", labels: tuple[str, str] = ("the first", "the second")) -> str | None:
        """What differs between these cards and ``other`` (None: nothing the games read), the
        two sides named by ``labels``."""
        if self.digest != other.digest:
            ours = {c.name for c in self.pool.cards}
            theirs = {c.name for c in other.pool.cards}

            def printed(card):   # what the table reads of a card: not its id or flavour text
                return replace(card, id=0, flavor="")
            changed = sorted(c.name for c in self.pool.cards
                             if c.name in theirs and printed(c) != printed(other.pool[other.pool.id_of(c.name)]))
            parts = [f"only {label} has {', '.join(sorted(names)[:4])}{', ...' if len(names) > 4 else ''}"
                     for label, names in zip(labels, (ours - theirs, theirs - ours)) if names]
            if changed:
                parts.append(f"changed: {', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''}")
            return f"the card tables differ ({'; '.join(parts) or 'the same cards under other ids'})"
        if list(self.decks) != list(other.decks):
            return f"the decks differ ({', '.join(self.decks)} against {', '.join(other.decks)})"
        rows, theirs = self.deck_rows(), other.deck_rows()
        changed = [name for name, a, b in zip(self.decks, rows, theirs) if not np.array_equal(a, b)]
        return f"the card lists of {', '.join(changed)} differ" if changed else None

    def describe(self) -> str:
        return "the shipped cards" if self.shipped else \
            f"{len(self.pool)} cards of their own and {len(self.decks)} deck(s) ({', '.join(self.decks)})"


def card_table_digest(pool: CardPool | None = None) -> str:
    """Hex digest of a compiled card table (default: the shipped cards')."""
    pool = pool or default_pool()
    return hashlib.blake2b(pool.table.tobytes(), digest_size=16).hexdigest()


def shipped_cards() -> RunCards:
    return RunCards(default_pool(), default_decks())


def _read(path: str, what: str) -> str:
    try:
        return open(path, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else f"not UTF-8 text: {e.reason}"
        raise ValueError(f"{what}: {path} cannot be read ({why})") from None


def run_cards(cards_file: str = "", decks_file: str = "") -> RunCards:
    """The cards of a run whose settings name ``cards_file`` and ``decks_file`` ('' for the
    shipped file). A ``decks_file`` alone builds its decks from the shipped cards; a
    ``cards_file`` alone needs the shipped decks' cards in it. ValueError naming the setting
    for anything unreadable or malformed (a decks file of no deck is malformed)."""
    from prefabs import decks_from_text, pool_from_text
    for key, val in (("cards_file", cards_file), ("decks_file", decks_file)):
        if not isinstance(val, str):
            raise ValueError(f"config: {key} must be a path (a string; '' for the shipped file), got {val!r}")
    if not cards_file.strip() and not decks_file.strip():
        return shipped_cards()
    cards_text = _read(cards_file, "config: cards_file") if cards_file.strip() else \
        (DATA_DIR / "cards.toml").read_text(encoding="utf-8")
    decks_text = _read(decks_file, "config: decks_file") if decks_file.strip() else \
        (DATA_DIR / "decks.toml").read_text(encoding="utf-8")
    try:
        pool = pool_from_text(cards_text, cards_file or "the shipped cards file")
    except PrefabError as e:
        raise ValueError(f"config: cards_file: {e}") from None
    try:
        decks = decks_from_text(decks_text, pool, decks_file or "the shipped decks file")
    except DeckError as e:
        hint = "" if decks_file.strip() else \
            " (the shipped decks need the shipped cards: give a decks_file of decks built from your cards)"
        raise ValueError(f"config: decks_file: {e}{hint}") from None
    return RunCards(pool, decks, cards_text, decks_text)


def checkpoint_cards(data: dict, path) -> RunCards:
    """The cards a checkpoint (the dict read from ``path``) was trained on: those its
    ``card_files`` carry, else the shipped ones. ValueError (the caller's CheckpointError)
    naming ``path`` when the files are malformed or do not compile to its ``card_table_digest``."""
    from prefabs import decks_from_text, pool_from_text
    files = data.get("card_files")
    if files is None:
        cards = shipped_cards()
    else:
        if not isinstance(files, dict) or set(files) != {"cards", "decks"} or \
                not all(isinstance(v, str) for v in files.values()):
            raise ValueError(f"{path}: its 'card_files' must map 'cards' and 'decks' to the files' text")
        what = "cards"
        try:
            pool = pool_from_text(files["cards"], "its cards file")
            what = "decks"
            decks = decks_from_text(files["decks"], pool, "its decks file")
        except (PrefabError, DeckError) as e:   # a TOML error names the file already; a card's or deck's does not
            msg = str(e)
            raise ValueError(f"{path}: " + (msg if msg.startswith("its ") else f"its {what} file: {msg}")) from None
        cards = RunCards(pool, decks, files["cards"], files["decks"])
    if data.get("card_table_digest") != cards.digest:
        what = "the cards it carries" if files is not None else "the shipped cards"
        raise ValueError(f"{path} was trained on a different card pool than {what} (card table digest "
                         f"{data.get('card_table_digest')!r}, {what}: {cards.digest})")
    return cards
