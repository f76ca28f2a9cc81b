"""Card prefabs as data: card types, subtypes, keywords, abilities, prebuilt decks and
deck validation, compiled into flat integer tables for the engine. No rules logic."""
from .enums import CardType, Effect, Keyword, Target, Trigger, UnitSubtype, WeaponSubtype, SpellSubtype, LeaderSubtype
from .cardset import CardSet, card_table_digest, load_card_set, shipped_cards
from .loader import (Ability, Card, CardPool, Deck, DeckError, PrefabError, default_decks, default_pool, deck_ids,
                     deck_choice, decks_from_text, find_deck, load_decks, load_pool, pool_from_text,
                     validate_deck)

__all__ = ["Ability", "Card", "CardPool", "CardSet", "CardType", "Deck", "DeckError", "Effect", "Keyword", "LeaderSubtype",
           "PrefabError", "SpellSubtype", "Target", "Trigger", "UnitSubtype", "WeaponSubtype", "default_decks",
           "default_pool", "deck_choice", "deck_ids", "decks_from_text", "find_deck", "load_decks", "load_pool",
           "pool_from_text", "validate_deck", "card_table_digest", "load_card_set", "shipped_cards"]
