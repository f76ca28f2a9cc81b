"""Typed errors for bad actions. Both carry the offending tuple and a reason in words."""


class ActionError(ValueError):
    """Base class of action errors."""

    def __init__(self, action, reason: str):
        self.action = tuple(int(x) for x in action) if action is not None else None
        self.reason = reason
        # no tuple (a malformed action, an index): the reason alone, never "action None: ..."
        super().__init__(reason if self.action is None else f"action {self.action}: {reason}")


class ActionOutOfRangeError(ActionError):
    """A tuple value lies outside its head's range (or the tuple has the wrong shape)."""


class IllegalActionError(ActionError):
    """A well-formed tuple that the rules do not allow in this state."""


class LegalCapacityError(RuntimeError):
    """The legal list outgrew its fixed capacity (cannot happen if ``MAX_LEGAL`` is a true bound)."""
