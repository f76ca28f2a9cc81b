"""The game engine and the faces users touch. Never imports torch or pufferlib."""
from verification.errors import ActionOutOfRangeError, IllegalActionError, LegalCapacityError
from .state import GameState, StateFormatError
from .vec import VecTCG

try:  # Gymnasium is optional for the engine; registering costs nothing when it is there.
    from .gym_env import register as _register_gym
    _register_gym()
except ImportError:  # pragma: no cover
    pass


def aec_env(*args, **kwargs):
    """The PettingZoo AEC env (imported on first use; see :mod:`tcg_env.aec`)."""
    from .aec import aec_env as _make
    return _make(*args, **kwargs)

__all__ = ["GameState", "IllegalActionError", "ActionOutOfRangeError", "LegalCapacityError", "StateFormatError", "VecTCG", "aec_env"]
