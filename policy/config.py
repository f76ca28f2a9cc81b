"""Policy configuration: one dataclass, two named sizes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


MAX_WIDTH = 4096     # d_model, n_heads: far past the large size's 256, short of a size no machine here holds
MAX_LAYERS = 64
MAX_FF = 16384
MIN_CARDS = 128      # card ids travel as int8, so they run to 127: one embedding row each


@dataclass
class PolicyConfig:
    """Sizes of :class:`~policy.model.TCGPolicy`."""
    d_model: int = 64
    """Width of entity embeddings and of the attention layers."""
    n_heads: int = 4
    """Attention heads per encoder layer."""
    n_layers: int = 2
    """Transformer encoder layers over the entity table."""
    d_ff: int = 128
    """Feed-forward width inside each encoder layer."""
    num_cards: int = 128
    """Card-id embedding rows (card ids are < 128: they travel as int8)."""
    dropout: float = 0.0
    """Dropout inside the encoder (0 keeps rollout and replay log-probs identical)."""
    card_text: bool = False
    """Add each card's printed ability text (effect, target rule and amounts of every ability and
    mode, from the card table) to its id embedding. The observation names cards by id; this is
    the public card list a player knows, not game state."""
    typed_inputs: bool = False
    """Feed the observation's categorical fields as such: each entity's zone, slot, card type and
    subtype, and the phase and pending target rule, through learned embedding rows; a weapon's
    and the pending spell's card id through the card embedding; the attacking and attacked
    entities as flags on their rows. Without it they reach the linear input as scaled numbers
    (an entity index or a card id as a magnitude)."""
    pointer_mlp: bool = False
    """Pointer heads score each entity with a one-hidden-layer MLP of (query + key) (additive
    attention) instead of the scaled dot product of the two, so a score can express a threshold
    such as "this attacker kills that unit"."""
    separate_value: bool = False
    """The value reads its own encoder (same size, own embeddings and weights) instead of the
    pooled state of the encoder the action heads share, so the value and policy losses do not
    pull on one small trunk. Roughly doubles the encoder's cost."""
    oracle_value: bool = False
    """Asymmetric actor-critic: the value gets its own encoder (as ``separate_value``) and that
    encoder also reads the opponent's hand, taken from the opponent's observation of the same
    position (``policy.model.oracle_entities``). Training only: the value only shapes the
    advantages, the action heads never see the hidden cards, and without the opponent's view
    the value is NaN. Lower-variance advantages for a game whose outcome hangs on hidden hands."""
    afford: bool = False
    """Give the action heads the decision's affordances (``policy.affordances``: which entities
    fill which pointer slot of some legal tuple, and which primaries are legal), added to the
    entity encodings and read out by one attention step into the heads' conditioning. The
    value head does not see them (a seat that is not acting has no legal list), so calls
    that only need values may omit the legal tuples; the heads then raise."""
    pointer_primary: bool = False
    """Score the primaries whose first sub-slot is an entity pointer (play a unit, spell or
    weapon, attack, block, activate, move) through that pointer: the primary's logit is the
    log-sum-exp of head 1's pointer logits over the entities that fill the slot in some legal
    tuple, so ``P(primary) * P(entity | primary)`` is one softmax over the (primary, entity)
    pairs. A bad cast of one spell then lowers that card's score, not every spell's. Needs the
    legal tuples at encode time, like ``afford``."""

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        """ValueError naming the field unless these sizes make a policy: every size a whole number
        within its bounds, ``n_heads`` dividing ``d_model`` (attention splits the width across
        the heads), a card-id row for every card id, and dropout in [0, 1). Called on
        construction and by :class:`~policy.model.TCGPolicy`, since fields may be set after."""
        for name, low, high in (("d_model", 1, MAX_WIDTH), ("n_heads", 1, MAX_WIDTH), ("n_layers", 1, MAX_LAYERS),
                                ("d_ff", 1, MAX_FF), ("num_cards", MIN_CARDS, MAX_WIDTH)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise ValueError(f"policy config {name} = {v!r} must be a whole number in {low}..{high}")
        if self.d_model % self.n_heads:
            raise ValueError(f"policy config n_heads = {self.n_heads} must divide d_model = {self.d_model} "
                             f"(each attention head takes an equal share of the width)")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"policy config dropout = {self.dropout!r} must be a number in [0, 1)")
        for f in fields(self):
            if f.type in (bool, "bool") and not isinstance(getattr(self, f.name), bool):
                raise ValueError(f"policy config {f.name} = {getattr(self, f.name)!r} must be true or false")

    @classmethod
    def named(cls, size: str) -> "PolicyConfig":
        if size == "small":
            return cls()
        if size == "large":
            return cls(d_model=256, n_heads=8, n_layers=4, d_ff=1024)
        raise ValueError(f"unknown policy size {size!r}; choose 'small' (CPU default) or 'large' (GPU)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PolicyConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown policy config field(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)
