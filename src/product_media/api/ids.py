"""Store and product ids in paths: plain positive decimal integers (DESIGN section 1)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

MAX_ID = 2**63 - 1

# ASCII digits only: int() and lax parsing also take signs, spaces, underscores, "2.0" and
# other scripts' digits, which would let several spellings name one id.
_PLAIN_DECIMAL = re.compile(r"[1-9][0-9]*")


def _plain_decimal(value: Any) -> Any:
    if not (isinstance(value, str) and _PLAIN_DECIMAL.fullmatch(value)):
        raise PydanticCustomError(
            "plain_decimal", "must be a positive integer written in plain decimal digits"
        )
    return value


# For Annotated[int, Path(..., gt=0, le=MAX_ID), PLAIN_DECIMAL]: the range is Path()'s, so
# that /openapi.json shows it. (Given before Path(), a validator turns the range into the
# unknown keywords "gt" and "le" there.)
PLAIN_DECIMAL = BeforeValidator(_plain_decimal)
