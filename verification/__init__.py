"""The one place legality lives: the action spec, the legal-tuple enumerator, the
independent per-tuple explainer, and their cross-check."""
from .errors import ActionOutOfRangeError, IllegalActionError, LegalCapacityError
from .spec import ACTION_SPEC, ACTION_SPEC_VERSION, HEAD_SIZES, MAX_LEGAL, NUM_ENTITIES, Primary, SlotKind

__all__ = ["ACTION_SPEC", "ACTION_SPEC_VERSION", "HEAD_SIZES", "MAX_LEGAL", "NUM_ENTITIES", "Primary", "SlotKind",
           "ActionOutOfRangeError", "IllegalActionError", "LegalCapacityError"]
