"""Rows to the media model and back: how a product's MediaSet is loaded and saved."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from product_media.domain.media import (
    Alt,
    Blob,
    Border,
    Image,
    ImageFiles,
    MediaSet,
    Video,
    VideoFiles,
)
from product_media.domain.product import Product
from product_media.storage import ids
from product_media.storage.engine import db_now
from product_media.storage.tables import (
    blob_refs,
    gallery_items,
    images,
    products,
    videos,
)


def load_products(conn: Connection, rows: Sequence[Row[Any]]) -> list[Product]:
    """The products of `rows`, each with its whole media set (a fixed number of queries)."""
    media = _load_media(conn, rows)
    return [
        Product(
            id=row.id,
            store_id=row.store_id,
            name=row.name,
            sku=row.sku,
            price=row.price,
            media=media[row.id],
            enabled=bool(row.enabled),
            description=row.description,
            quantity=row.quantity,
            unlimited=bool(row.unlimited),
            created=utc(row.created_at),
            updated=utc(row.updated_at),
            revision=row.revision,
        )
        for row in rows
    ]


def utc(value: datetime) -> datetime:
    # SQLite keeps timestamps as naive UTC; PostgreSQL hands them out in the session's zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _border(value: Any) -> Border | None:
    if not isinstance(value, dict):
        return None
    try:
        return Border(
            red=int(value["red"]),
            green=int(value["green"]),
            blue=int(value["blue"]),
            alpha=int(value["alpha"]),
            homogeneity=bool(value["homogeneity"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _border_value(border: Border | None) -> dict[str, Any] | None:
    if border is None:
        return None
    return {
        "red": border.red,
        "green": border.green,
        "blue": border.blue,
        "alpha": border.alpha,
        "homogeneity": border.homogeneity,
    }


def image_files(refs: list[Row[Any]], width: int, height: int, border: Any) -> ImageFiles:
    by_role = {ref.role: Blob(ref.key, ref.content_type) for ref in refs}
    original = by_role.pop("original")
    return ImageFiles(
        original=original,
        width=width,
        height=height,
        derived={
            int(role): blob for role, blob in sorted(by_role.items(), key=lambda r: int(r[0]))
        },
        border=_border(border),
    )


def _load_media(conn: Connection, rows: Sequence[Row[Any]]) -> dict[int, MediaSet]:
    ids = [row.id for row in rows]
    image_rows = conn.execute(select(images).where(images.c.product_id.in_(ids))).all()
    video_rows = conn.execute(select(videos).where(videos.c.product_id.in_(ids))).all()
    image_refs: dict[int, list[Row[Any]]] = defaultdict(list)
    video_refs: dict[int, list[Row[Any]]] = defaultdict(list)
    image_ids = [r.id for r in image_rows]
    video_ids = [r.id for r in video_rows]
    if image_ids or video_ids:
        ref_rows = conn.execute(
            select(blob_refs).where(
                or_(blob_refs.c.image_id.in_(image_ids), blob_refs.c.video_id.in_(video_ids))
            )
        ).all()
        for ref in ref_rows:
            if ref.image_id is not None:
                image_refs[ref.image_id].append(ref)
            else:
                video_refs[ref.video_id].append(ref)
    files = {r.id: image_files(image_refs[r.id], r.width, r.height, r.border) for r in image_rows}
    all_images = {r.id: Image(files=files[r.id], id=r.id, alt=_alt(r.alt)) for r in image_rows}
    all_videos = {}
    for r in video_rows:
        file_refs = video_refs[r.id]
        source = VideoFiles(
            url=r.url,
            file=Blob(file_refs[0].key, file_refs[0].content_type) if file_refs else None,
            provider_name=r.provider_name,
            title=r.title,
            cover=files.get(r.cover_image_id) if r.cover_image_id is not None else None,
        )
        all_videos[r.id] = Video(source=source, id=r.id, cover_id=r.cover_image_id)
    gallery: dict[int, list[Image | Video]] = defaultdict(list)
    item_rows = conn.execute(
        select(gallery_items)
        .where(gallery_items.c.product_id.in_(ids))
        .order_by(gallery_items.c.product_id, gallery_items.c.position)
    ).all()
    for item in item_rows:
        if item.image_id is not None:
            gallery[item.product_id].append(all_images[item.image_id])
        else:
            gallery[item.product_id].append(all_videos[item.video_id])
    return {
        row.id: MediaSet(
            main_image=all_images.get(row.main_image_id) if row.main_image_id else None,
            main_video=all_videos.get(row.main_video_id) if row.main_video_id else None,
            gallery=tuple(gallery[row.id]),
        )
        for row in rows
    }


def _alt(value: Any) -> Alt | None:
    if not isinstance(value, dict):
        return None
    return Alt(main=str(value.get("main", "")), translated=dict(value.get("translated") or {}))


def _alt_value(alt: Alt | None) -> dict[str, Any] | None:
    if alt is None or (not alt.main and not alt.translated):
        return None
    return {"main": alt.main, "translated": dict(alt.translated)}


class _NewRows:
    """The image rows and file references one save inserts, sent as one statement each (on
    PostgreSQL each statement is a round trip, and a gallery of 20 took 60), with the ids of
    its new items drawn together."""

    def __init__(self, conn: Connection, store_id: int, product_id: int, wanted: int) -> None:
        self._conn = conn
        self.store_id = store_id
        self.product_id = product_id
        self._ids = iter(ids.next_ids(conn, "media", wanted))
        self._images: list[dict[str, Any]] = []
        self._refs: list[dict[str, Any]] = []

    def media_id(self) -> int:
        return next(self._ids)

    def image(self, image: ImageFiles, alt: Alt | None, image_id: int | None = None) -> int:
        image_id = self.media_id() if image_id is None else image_id
        self._images.append(
            {
                "id": image_id,
                "store_id": self.store_id,
                "product_id": self.product_id,
                "width": image.width,
                "height": image.height,
                "alt": _alt_value(alt),
                "border": _border_value(image.border),
            }
        )
        self._ref("original", image.original, image_id=image_id)
        for size, blob in image.derived.items():
            self._ref(str(size), blob, image_id=image_id)
        return image_id

    def video_file(self, video_id: int, blob: Blob) -> None:
        self._ref("file", blob, video_id=video_id)

    def _ref(
        self, role: str, blob: Blob, *, image_id: int | None = None, video_id: int | None = None
    ) -> None:
        self._refs.append(
            {
                "role": role,
                "key": blob.key,
                "content_type": blob.content_type,
                "image_id": image_id,
                "video_id": video_id,
            }
        )

    def insert(self) -> None:
        """Insert what was gathered (the videos the references name are in already)."""
        if self._images:
            self._conn.execute(insert(images), self._images)
        if self._refs:
            self._conn.execute(insert(blob_refs), self._refs)


def _wanted_ids(new: MediaSet) -> int:
    """How many ids a save of `new` draws (see _stored): one for each item and cover that has
    none."""
    count = 0
    for item in new.items():
        count += item.id is None
        if isinstance(item, Video) and item.source.cover is not None:
            count += item.cover_id is None
    return count


def _stored(
    added: _NewRows,
    conn: Connection,
    item: Image | Video,
    had: tuple[dict[int, Alt | None], set[int]],
) -> tuple[str, int]:
    """Add `item` unless the product had it already (`had`: its images' alt texts by id,
    its video ids); returns its kind and id. A new item may come with an id reserved for it."""
    had_images, had_videos = had
    if isinstance(item, Image):
        if item.id is not None and item.id in had_images:
            if item.alt != had_images[item.id]:
                # Only alt texts change on an image kept; its files never do.
                conn.execute(
                    update(images).where(images.c.id == item.id).values(alt=_alt_value(item.alt))
                )
            return "image", item.id
        return "image", added.image(item.files, item.alt, item.id)
    source = item.source
    if item.id is not None and item.id in had_videos:
        if source.cover is not None and item.cover_id not in had_images:
            # A video kept with a new cover (its old cover's row went with the old set).
            new_cover = added.image(source.cover, None, item.cover_id)
            conn.execute(
                update(videos).where(videos.c.id == item.id).values(cover_image_id=new_cover)
            )
        return "video", item.id
    cover_id = added.image(source.cover, None, item.cover_id) if source.cover else None
    video_id = added.media_id() if item.id is None else item.id
    conn.execute(
        insert(videos).values(
            id=video_id,
            store_id=added.store_id,
            product_id=added.product_id,
            url=source.url,
            provider_name=source.provider_name,
            title=source.title,
            cover_image_id=cover_id,
        )
    )
    if source.file is not None:
        added.video_file(video_id, source.file)
    return "video", video_id


def _ids(media: MediaSet) -> tuple[set[int], set[int]]:
    image_ids: set[int] = set()
    video_ids: set[int] = set()
    for item in media.items():
        if isinstance(item, Image) and item.id is not None:
            image_ids.add(item.id)
        elif isinstance(item, Video) and item.id is not None:
            video_ids.add(item.id)
            if item.cover_id is not None:
                image_ids.add(item.cover_id)
    return image_ids, video_ids


def _delete_images_and_videos(
    conn: Connection, image_ids: Iterable[int], video_ids: Iterable[int]
) -> None:
    image_ids, video_ids = list(image_ids), list(video_ids)
    if video_ids:
        conn.execute(delete(blob_refs).where(blob_refs.c.video_id.in_(video_ids)))
        conn.execute(delete(videos).where(videos.c.id.in_(video_ids)))
    if image_ids:
        conn.execute(delete(blob_refs).where(blob_refs.c.image_id.in_(image_ids)))
        conn.execute(delete(images).where(images.c.id.in_(image_ids)))


def delete_media_rows(conn: Connection, product_ids: list[int]) -> None:
    conn.execute(delete(gallery_items).where(gallery_items.c.product_id.in_(product_ids)))
    image_ids = conn.execute(
        select(images.c.id).where(images.c.product_id.in_(product_ids))
    ).scalars()
    video_ids = conn.execute(
        select(videos.c.id).where(videos.c.product_id.in_(product_ids))
    ).scalars()
    _delete_images_and_videos(conn, list(image_ids), list(video_ids))


def save_media(
    conn: Connection, store_id: int, product_id: int, current: MediaSet, new: MediaSet
) -> None:
    old_images, old_videos = _ids(current)
    kept_images, kept_videos = _ids(new)
    alts = {item.id: item.alt for item in current.items() if isinstance(item, Image)}
    had = ({i: alts.get(i) for i in old_images}, old_videos)
    conn.execute(delete(gallery_items).where(gallery_items.c.product_id == product_id))
    _delete_images_and_videos(conn, old_images - kept_images, old_videos - kept_videos)
    added = _NewRows(conn, store_id, product_id, _wanted_ids(new))
    main_image_id = _stored(added, conn, new.main_image, had)[1] if new.main_image else None
    main_video_id = _stored(added, conn, new.main_video, had)[1] if new.main_video else None
    rows = []
    for position, item in enumerate(new.gallery, start=1):
        kind, item_id = _stored(added, conn, item, had)
        rows.append(
            {
                "product_id": product_id,
                "position": position,
                "image_id": item_id if kind == "image" else None,
                "video_id": item_id if kind == "video" else None,
            }
        )
    added.insert()
    if rows:
        conn.execute(insert(gallery_items), rows)
    conn.execute(
        update(products)
        .where(products.c.id == product_id)
        .values(
            main_image_id=main_image_id,
            main_video_id=main_video_id,
            updated_at=db_now(),
            revision=ids.next_id(conn, "revisions"),
        )
    )
