"""Services: load rows, apply the domain rules, write results.

Services never commit: the request, CLI command or scheduler job that calls
them commits once (or rolls back on any error). The one exception is
`sweeps`, the scheduler's entry points, which commit each round separately.
"""


class ServiceError(Exception):
    """A request the rules refuse; `message` is plain words fit to show a person."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        #: The form field the message belongs beside, when there is one.
        self.field = field
