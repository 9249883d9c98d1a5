"""What a call raises: the API's refusal, or a server that could not be reached."""

from __future__ import annotations


class EcwidError(Exception):
    """Any failure of a client call."""


class ApiError(EcwidError):
    """The API answered with an error status: its status, `errorCode` and `errorMessage`."""

    def __init__(
        self,
        status: int,
        error_code: str | None,
        error_message: str,
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.error_message = error_message
        self.method = method
        self.path = path
        code = f" {error_code}" if error_code else ""
        super().__init__(f"{method} {path}: {status}{code}: {error_message}".strip())


class UnexpectedAnswer(ApiError):
    """A success status with a body that is not the JSON the call expects (a proxy's page,
    another API)."""

    def __init__(self, status: int, reason: str, *, method: str = "", path: str = "") -> None:
        super().__init__(
            status,
            "UNEXPECTED_ANSWER",
            f"not the answer expected: {reason}",
            method=method,
            path=path,
        )


class ConnectionFailed(EcwidError):
    """No answer from the server (refused, reset, timed out) after the retries allowed."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}: {message}".strip())
