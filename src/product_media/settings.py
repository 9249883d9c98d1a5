"""Every knob of the service in one place; each has a PRODUCT_MEDIA_* environment twin."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from product_media.ingest.address_policy import IPNetwork, parse_networks

MB = 1_000_000

# What a browser sends as Origin: scheme://host[:port], nothing after.
_ORIGIN = re.compile(r"https?://[^/?#\s]+", re.IGNORECASE)


def parse_origins(text: str) -> tuple[str, ...]:
    """Origins from 'https://a.example, https://b.example:8443' or '*'. An origin that a
    browser would never send (a path, no scheme) is refused rather than never matched."""
    origins = []
    for item in (part.strip().rstrip("/") for part in text.split(",")):
        if not item:
            continue
        if item != "*" and not _ORIGIN.fullmatch(item):
            raise ValueError(f"{item!r} is not an origin (scheme://host[:port]) nor *")
        origins.append(item.lower())
    return tuple(origins)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRODUCT_MEDIA_", extra="ignore")

    data: Path = Field(Path("data"), description="Folder for the SQLite catalog and media files")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the catalog; default sqlite:///DATA/catalog.db"
    )
    media_dir: Path | None = Field(None, description="Folder of the blob store; default DATA/media")
    blob_url: str | None = Field(
        None, description="s3://bucket[/prefix] puts every blob in that bucket; wins over MEDIA_DIR"
    )
    s3_endpoint_url: str | None = Field(
        None, description="An S3-compatible server (MinIO, Ceph, R2, ...); default: AWS"
    )
    media_base_url: str | None = Field(
        None, description="Base that media URLs are handed out under (a CDN); default: this server"
    )
    redis_url: str | None = Field(
        None, description="Redis for the shared rate limit; default: the catalog database"
    )
    workers: int = Field(1, ge=1, description="Worker processes of `serve`")
    log_format: Literal["text", "json"] = "text"
    owner_lease: float = Field(
        60.0, gt=0, description="Seconds after which a server that stopped renewing is dead"
    )
    public_url: str | None = Field(
        None, description="Base URL that media URLs start with; default: the request's own"
    )
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)

    allow_source_networks: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        (), description="CIDRs that sources may be fetched from although the policy refuses them"
    )
    image_max_bytes: int = Field(20 * MB, gt=0)
    image_max_pixels: int = Field(100_000_000, gt=0)
    video_max_bytes: int = Field(500 * MB, gt=0)
    video_max_seconds: float = Field(600.0, gt=0, description="Longest video file accepted")
    video_max_side: int = Field(4096, gt=0, description="Pixels on a video's long side, at most")
    video_download_timeout: float = Field(
        300.0, gt=0, description="Seconds a video file's whole download may take"
    )
    youtube_oembed_url: str = Field(
        "https://www.youtube.com/oembed", description="oEmbed endpoint for YouTube links"
    )
    vimeo_oembed_url: str = Field(
        "https://vimeo.com/api/oembed.json", description="oEmbed endpoint for Vimeo links"
    )
    connect_timeout: float = Field(5.0, gt=0)
    image_download_timeout: float = Field(30.0, gt=0)
    max_redirects: int = Field(5, ge=0)
    fetch_concurrency: int = Field(
        16, ge=1, description="Sources fetched and processed at once per media update"
    )
    max_sources_in_flight: int = Field(
        32, ge=1, description="Sources downloaded or processed at once across all updates"
    )
    max_sources_per_store: int = Field(
        16, ge=1, description="Of MAX_SOURCES_IN_FLIGHT, the most one store may hold at once"
    )
    update_timeout: float = Field(
        120.0, gt=0, description="Seconds one media update may take; sources not done then fail"
    )
    shutdown_timeout: float = Field(
        30.0, ge=0, description="Seconds SIGTERM waits for requests in flight before it stops them"
    )
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request's headers"
    )
    process_threads: int = Field(
        0, ge=0, description="Image workers; 0 = one more than the CPU cores"
    )
    decode_memory: int = Field(
        1024 * 1024 * 1024, gt=0, description="Bytes that image decodes may hold at once"
    )

    max_body_bytes: int = Field(1024 * 1024, gt=0)
    max_gallery_items: int = Field(100, ge=0)
    sweep_interval: float = Field(
        300.0, ge=0, description="Seconds between sweeps for what crashes left; 0 = at start only"
    )
    rate_limit_per_minute: int = Field(600, ge=0, description="Requests per token; 0 = unlimited")
    read_cache_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Rendered products kept per process; 0 = none"
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        ("*",), description="Origins whose pages may call the API from a browser; * = any"
    )
    allow_query_token: bool = Field(
        False, description="Also read the token from ?token= (what older Ecwid clients send)"
    )
    seed: Path | None = Field(
        None, description="JSON file of stores, tokens and products created at start and reset"
    )
    admin_token: str | None = Field(
        None,
        repr=False,
        description="Bearer token of the /_emulator routes (reset, faults, requests); unset: none",
    )

    @field_validator("admin_token")
    @classmethod
    def _unset_when_empty(cls, value: str | None) -> str | None:
        # PRODUCT_MEDIA_ADMIN_TOKEN= (empty) turns the routes off, as leaving it out does.
        return value or None

    @field_validator("allow_source_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_networks(value)
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_origins(value)
        return value

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data / 'catalog.db'}"

    @property
    def lock_dir(self) -> Path:
        """Where server processes on this host keep the lock files that tell at once when one
        of them has died (the lease in the database tells every host, but only later)."""
        return self.data / "owners"

    @property
    def blob_dir(self) -> Path:
        return self.media_dir or self.data / "media"

    @property
    def scratch_dir(self) -> Path:
        """Where video files are streamed to while they are checked, before they are stored
        (beside the default blob folder, so storing one there is a rename, not a copy)."""
        return self.data / "scratch"
