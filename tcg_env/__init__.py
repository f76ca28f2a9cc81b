"""The game engine and the faces users touch. Never imports torch or pufferlib."""
from verification.errors import ActionOutOfRangeError, IllegalActionError, LegalCapacityError
from .state import GameState, StateFormatError

__all__ = ["GameState", "IllegalActionError", "ActionOutOfRangeError", "LegalCapacityError", "StateFormatError"]
