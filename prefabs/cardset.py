"""A card pool with the decks dealt from it, and the text of the files they came from: what a
run on a designer's own cards trains on (``training.cards``), and what its checkpoints and
``tcg play``'s replays carry so the same cards can be rebuilt from them alone."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from .loader import (DATA_DIR, CardPool, Deck, deck_ids, decks_from_text, default_decks, default_pool,
                     pool_from_text)


@dataclass(frozen=True, eq=False)
class CardSet:
    """A card pool and the decks dealt from it. ``cards_text``/``decks_text``: the text of the
    cards and decks files they were read from (both set), None for the shipped cards and
    prebuilt decks. Checkpoints and replays carry the text, so the same cards can be rebuilt
    from them alone."""
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

    def deal(self, games: int):
        """:class:`VecTCG`'s ``decks=`` for ``games`` games dealing every pairing in turn (what
        ``decks=None`` deals of the prebuilt decks)."""
        pairs = self.pairings()
        return self.env_decks([pairs[i % len(pairs)] for i in range(games)])

    def files(self) -> dict | None:
        """``{"cards": text, "decks": text}`` (what checkpoints and replays carry), None when shipped."""
        return None if self.shipped else {"cards": self.cards_text, "decks": self.decks_text}

    def checkpoint_entry(self) -> dict:
        """The keys a checkpoint of a run on these cards carries besides ``card_table_digest``."""
        return {} if self.shipped else {"card_files": self.files()}

    def same_as(self, other: "CardSet") -> bool:
        """The same compiled cards and the same decks (by name, order and cards)."""
        return self.difference(other) is None

    def difference(self, other: "CardSet", labels: tuple[str, str] = ("the first", "the second")) -> str | None:
        """What differs between these cards and ``other`` (None: nothing the games read), the
        two sides named by ``labels``."""
        if self.digest != other.digest:
            ours = {c.name for c in self.pool.cards}
            theirs = {c.name for c in other.pool.cards}

            def printed(card):   # what the table reads of a card: not its id or flavour text
                return replace(card, id=0, flavor="")
            changed = sorted(c.name for c in self.pool.cards
                             if c.name in theirs and printed(c) != printed(other.pool[other.pool.id_of(c.name)]))
            parts = [f"only in {label}: {', '.join(sorted(names)[:4])}{', ...' if len(names) > 4 else ''}"
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
        if self.shipped:
            return "the shipped cards"
        cards = "the shipped cards" if self.digest == card_table_digest() else f"{len(self.pool)} cards of their own"
        return f"{cards} with {len(self.decks)} deck(s) ({', '.join(self.decks)})"


def card_table_digest(pool: CardPool | None = None) -> str:
    """Hex digest of a compiled card table (default: the shipped cards')."""
    pool = pool or default_pool()
    return hashlib.blake2b(pool.table.tobytes(), digest_size=16).hexdigest()


def shipped_cards() -> CardSet:
    """The shipped cards and their prebuilt decks."""
    return CardSet(default_pool(), default_decks())


def load_card_set(cards_file=None, decks_file=None) -> CardSet:
    """The cards of a cards file and the decks of a decks file built from them, with the files'
    text (None for either: the shipped file; both None: :func:`shipped_cards`). A decks file
    alone builds its decks from the shipped cards; a cards file alone needs the prebuilt decks'
    cards in it. :class:`PrefabError` (the cards, also a cards file alone that the prebuilt
    decks do not fit) or :class:`DeckError` (the decks) naming the file for anything unreadable
    or malformed."""
    from .loader import DeckError, PrefabError, read_text
    if cards_file is None and decks_file is None:
        return shipped_cards()
    for what, path, error in (("cards", cards_file, PrefabError), ("decks", decks_file, DeckError)):
        if path is not None and not str(path).strip():   # '' would read as the current folder
            raise error(f"a {what} file is named by its path, got {str(path)!r}")
    cards_text = shipped_text("cards") if cards_file is None else read_text(cards_file, "cards", PrefabError)
    decks_text = shipped_text("decks") if decks_file is None else read_text(decks_file, "decks", DeckError)
    pool = pool_from_text(cards_text, str(cards_file or "the shipped cards file"))
    try:
        decks = decks_from_text(decks_text, pool, str(decks_file or "the shipped decks file"))
    except DeckError as e:
        if decks_file is not None:
            raise
        # the cards file is what does not fit: it lacks cards the prebuilt decks hold
        raise PrefabError(f"{cards_file}: the prebuilt decks need cards it lacks ({e}); give a decks file of "
                          f"decks built from its cards") from None
    return CardSet(pool, decks, cards_text, decks_text)


def shipped_text(what: str) -> str:
    """The text of the shipped ``cards`` or ``decks`` file."""
    return (DATA_DIR / f"{what}.toml").read_text(encoding="utf-8")


def carried_card_set(files) -> CardSet:
    """The cards and decks a checkpoint's or replay's ``card_files`` entry carries
    (``{"cards": text, "decks": text}``); None there means the shipped ones. ValueError saying
    what is wrong (the caller names the file) for any other form or malformed text."""
    from .loader import DeckError, PrefabError
    if files is None:
        return shipped_cards()
    if not isinstance(files, dict) or set(files) != {"cards", "decks"} or \
            not all(isinstance(v, str) for v in files.values()):
        raise ValueError("its 'card_files' must map 'cards' and 'decks' to the files' text")
    for what, text in files.items():   # a file's text is UTF-8: a lone surrogate could not be written out again
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"its {what} file's text is not UTF-8 text ({e.reason} at character {e.start})") from None
    try:
        pool = pool_from_text(files["cards"], "its cards file")
        return CardSet(pool, decks_from_text(files["decks"], pool, "its decks file"), files["cards"], files["decks"])
    except (PrefabError, DeckError) as e:   # named "its cards file: ..." or "its decks file: ..."
        raise ValueError(str(e)) from None
