"""The cards a training run plays: the shipped cards and prebuilt decks, or a designer's own
cards and decks files (``TrainConfig.cards_file`` and ``decks_file``, the forms of
``prefabs/data/cards.toml`` and ``decks.toml``; ``docs/examples/`` holds a small pair), as a
:class:`prefabs.CardSet`.

A run on its own cards writes the files' text into every checkpoint (``card_files``), beside
the digest of the compiled card table that every checkpoint holds. ``tcg eval``, ``tcg play``
and the checkpoint bot rebuild the cards from the checkpoint alone, so a checkpoint can be
shared without its files; a resumed run reads the files its settings name again and refuses to
go on when they no longer compile to the checkpoint's cards and decks.
"""
from __future__ import annotations

from prefabs import CardSet, DeckError, PrefabError, card_table_digest, shipped_cards
from prefabs.cardset import carried_card_set, load_card_set

__all__ = ["CardSet", "card_table_digest", "checkpoint_cards", "run_cards", "shipped_cards"]


def run_cards(cards_file: str = "", decks_file: str = "") -> CardSet:
    """The cards of a run whose settings name ``cards_file`` and ``decks_file`` ('' for the
    shipped file; :func:`prefabs.cardset.load_card_set`). ValueError naming the setting for
    anything unreadable or malformed (a decks file of no deck is malformed)."""
    for key, val in (("cards_file", cards_file), ("decks_file", decks_file)):
        if not isinstance(val, str):
            raise ValueError(f"config: {key} must be a path (a string; '' for the shipped file), got {val!r}")
    try:   # '' is the shipped file; a blank but non-empty path is refused by load_card_set
        return load_card_set(cards_file or None, decks_file or None)
    except PrefabError as e:
        raise ValueError(f"config: cards_file: {e}") from None
    except DeckError as e:
        raise ValueError(f"config: decks_file: {e}") from None


def checkpoint_cards(data: dict, path) -> CardSet:
    """The cards a checkpoint (the dict read from ``path``) was trained on: those its
    ``card_files`` carry, else the shipped ones. ValueError (the caller's CheckpointError)
    naming ``path`` when the files are malformed or do not compile to its ``card_table_digest``."""
    files = data.get("card_files")
    try:
        cards = carried_card_set(files)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    if data.get("card_table_digest") != cards.digest:
        what = "the cards it carries" if files is not None else "the shipped cards"
        raise ValueError(f"{path} was trained on a different card pool than {what} (card table digest "
                         f"{data.get('card_table_digest')!r}, {what}: {cards.digest})")
    return cards
