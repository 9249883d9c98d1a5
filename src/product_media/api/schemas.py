"""Request and response bodies, with Ecwid's field names (they also make /openapi.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr


class _In(BaseModel):
    # Ecwid ignores fields it does not know, and so do we.
    model_config = ConfigDict(extra="ignore")


class MediaItemIn(_In):
    imageUrl: StrictStr | None = Field(None, description="URL of an image (http or https)")
    videoUrl: StrictStr | None = Field(None, description="URL of a video file or page")


class MediaUpdateIn(_In):
    mainMedia: MediaItemIn | None = Field(
        None, description="New main image and/or video; missing, null or {}: unchanged"
    )
    galleryMedia: list[MediaItemIn] | None = Field(
        None, description="The whole new gallery, in order; missing, null or []: deleted"
    )


class MediaItemResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    success: bool
    id: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    warning: str | None = None


class MediaUpdateOut(BaseModel):
    mainMedia: MediaItemResult | None = None
    galleryMedia: list[MediaItemResult]


class ProductIn(_In):
    name: StrictStr = Field(min_length=1, max_length=10_000)
    sku: StrictStr | None = Field(None, max_length=255)
    price: StrictFloat | StrictInt = Field(0, ge=0, le=1e15)


class CreatedOut(BaseModel):
    id: int


class DeletedOut(BaseModel):
    deleteCount: int


class ProductOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    sku: str | None = None
    name: str
    price: float
    media: dict[str, Any]
    galleryImages: list[dict[str, Any]]


class ProductsPage(BaseModel):
    total: int
    count: int
    offset: int
    limit: int
    items: list[ProductOut]


class ErrorOut(BaseModel):
    errorMessage: str
    errorCode: str
