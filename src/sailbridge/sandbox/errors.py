"""Sailthru's error answers, as an exception the model raises and the app renders.

The model only says *what* is wrong (code and message); the HTTP status travels with
it because Sailthru ties some codes to a status (401 for credentials, 429 for limits).
"""

from __future__ import annotations

from typing import Any, Final

MISSING_PARAMETER: Final = 2
INVALID_API_KEY: Final = 3
INVALID_SIGNATURE: Final = 5
INTERNAL_ERROR: Final = 9
INVALID_EMAIL: Final = 11
UNKNOWN_TEMPLATE: Final = 14
INVALID_TIME: Final = 18
RATE_LIMITED: Final = 43
OTHER: Final = 99


class ApiError(Exception):
    """An answer ``{"error": code, "errormsg": message}`` with HTTP ``status``."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        """Exactly the two keys Sailthru's clients test for (`is_ok` compares key sets)."""
        return {"error": self.code, "errormsg": self.message}


def missing(name: str) -> ApiError:
    return ApiError(MISSING_PARAMETER, f"Missing required parameter: {name}")


def invalid(message: str) -> ApiError:
    """Error 99, Sailthru's catch-all for a parameter it cannot accept."""
    return ApiError(OTHER, message)
