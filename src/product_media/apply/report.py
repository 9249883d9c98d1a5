"""The report: one entry per item, written as CSV or as a JSON array by the file's extension."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELDS = ("product", "line", "position", "url", "success", "errorCode", "errorMessage")
FORMATS = (".csv", ".json")


@dataclass(frozen=True)
class Outcome:
    """One item's end: `product` is the product id when known, else what the row named."""

    product: str
    line: int
    position: str
    url: str
    success: bool
    error_code: str | None = None
    error_message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "line": self.line,
            "position": self.position,
            "url": self.url,
            "success": self.success,
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
        }


def check_report_path(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"the report must end in .csv or .json, not {path.name!r}")


def write_report(path: Path, outcomes: Iterable[Outcome]) -> None:
    """Write the entries sorted by line and position order as given."""
    check_report_path(path)
    rows = [outcome.as_dict() for outcome in outcomes]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **row,
                    "success": "true" if row["success"] else "false",
                    "errorCode": row["errorCode"] or "",
                    "errorMessage": row["errorMessage"] or "",
                }
            )
