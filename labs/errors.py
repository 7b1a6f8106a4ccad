"""The one exception type the lab's host side raises for things a user can fix."""


class LabError(RuntimeError):
    """A problem with a clear explanation and, where there is one, what to do about it."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  -> {self.hint}" if self.hint else text
