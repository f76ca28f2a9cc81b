"""The torch policy: entity encoder with multi-head attention, value head, and
prefix-conditioned action heads. Knows nothing about PPO or legality."""
from .config import PolicyConfig
from .model import Encoding, TCGPolicy, obs_tensors

__all__ = ["Encoding", "PolicyConfig", "TCGPolicy", "obs_tensors"]
