"""The single-video use cases on in-memory fakes: the real pipeline and rules, fake fetches,
catalog and blob store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import pytest

from product_media.domain.media import Image, MediaSet, Video
from product_media.domain.plan import NOT_VIDEO_URL, VIDEO_UNAVAILABLE
from product_media.domain.video_edits import UnknownVideo
from product_media.service import videos
from product_media.service.errors import ImageUnusable, ProductNotFound, VideoUnusable
from product_media.service.images import ImageSource
from product_media.service.ports import Storage
from tests.fakes import FakeBlobStore, FakeCatalog, FakeFetcher, fake_pipeline
from tests.media_factory import jpeg, png
from tests.media_model import stored_image_files
from tests.video_factory import mp4, webm

T = TypeVar("T")


@dataclass
class World:
    catalog: FakeCatalog
    blobs: FakeBlobStore
    fetcher: FakeFetcher
    storage: Storage
    store_id: int
    product_id: int

    def add(self, name: str, content: bytes) -> str:
        url = f"https://shop.example/{name}"
        self.fetcher.files[url] = content
        return url

    @property
    def media(self) -> MediaSet:
        product = self.catalog.get_product(self.store_id, self.product_id)
        assert product is not None
        return product.media

    def run(self, use_case: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        async def call() -> T:
            return await use_case(self.storage, *args, **kwargs)

        return anyio.run(call)

    def add_video(self, url: str, *, main: bool, product_id: int | None = None) -> int:
        return self.run(
            videos.add_video,
            fake_pipeline(self.fetcher),
            self.store_id,
            product_id or self.product_id,
            "main" if main else "gallery",
            url,
            token="t",
            time_limit=60,
        )

    def set_cover(self, video_id: int, *, body: bytes | None = None, url: str | None = None) -> int:
        return self.run(
            videos.set_cover,
            fake_pipeline(self.fetcher),
            self.store_id,
            self.product_id,
            video_id,
            ImageSource(url=url, content=body),
            token="t",
            time_limit=60,
        )

    def used_keys(self) -> set[str]:
        return set(self.media.blob_keys())


@pytest.fixture
def world() -> World:
    catalog, blobs, fetcher = FakeCatalog(), FakeBlobStore(), FakeFetcher()
    store_id = catalog.create_store("s")
    product_id = catalog.create_product(store_id, "p", None, 1.0)
    storage = Storage(catalog, catalog, blobs, "a" * 32)
    return World(catalog, blobs, fetcher, storage, store_id, product_id)


def _with_gallery_image(world: World) -> Image:
    """Give the product a main image and one gallery image, as a commit would."""
    files, contents = stored_image_files("g")
    main_files, main_contents = stored_image_files("m")
    for key, content in {**contents, **main_contents}.items():
        world.blobs.put(key, content)
    world.catalog.claim("seed", "a" * 32, [*contents, *main_contents])

    def seeded(current: MediaSet) -> tuple[MediaSet, None]:
        return MediaSet(Image(main_files), None, (Image(files),)), None

    world.catalog.update_media(world.store_id, world.product_id, "seed", seeded)
    image = world.media.gallery[0]
    assert isinstance(image, Image)
    return image


def test_main_and_gallery_videos_get_their_ids(world: World) -> None:
    image = _with_gallery_image(world)
    main_id = world.add_video(world.add("a.mp4", mp4()), main=True)
    gallery_id = world.add_video(world.add("b.webm", webm()), main=False)
    saved = world.media
    assert saved.main_video is not None and saved.main_video.id == main_id
    assert saved.gallery[0] == image and saved.main_image is not None
    second = saved.gallery[1]
    assert isinstance(second, Video) and second.id == gallery_id
    assert second.source.file is not None and second.source.cover is not None
    assert second.cover_id is not None and second.cover_id not in (main_id, gallery_id)
    assert set(world.blobs.blobs) == world.used_keys()
    found = world.run(
        videos.gallery_video, world.store_id, world.product_id, gallery_id, enabled_only=False
    )
    assert found == (second, 2)


def test_a_new_main_video_replaces_the_old_and_its_files_go(world: World) -> None:
    world.add_video(world.add("a.mp4", mp4()), main=True)
    world.add_video(world.add("b.webm", webm()), main=True)
    assert world.media.main_video is not None
    assert world.media.main_video.source.file is not None
    assert world.media.main_video.source.file.content_type == "video/webm"
    assert set(world.blobs.blobs) == world.used_keys()


def test_refusals_carry_the_endpoint_codes(world: World) -> None:
    with pytest.raises(VideoUnusable) as refused:
        world.add_video(world.add("pic.jpg", jpeg(40, 30)), main=True)
    assert refused.value.code == NOT_VIDEO_URL
    assert world.media == MediaSet() and world.blobs.blobs == {}
    with pytest.raises(VideoUnusable) as refused:
        world.add_video(world.add("broken.mp4", mp4()[:3000]), main=False)
    assert refused.value.code == VIDEO_UNAVAILABLE
    assert world.media == MediaSet() and world.blobs.blobs == {}


def test_nothing_is_fetched_for_a_missing_product(world: World) -> None:
    url = world.add("a.mp4", mp4())
    with pytest.raises(ProductNotFound):
        world.add_video(url, main=True, product_id=world.product_id + 100)
    assert world.fetcher.fetched == []


def test_a_cover_replaces_the_old_one(world: World) -> None:
    video_id = world.add_video(world.add("a.mp4", mp4()), main=False)
    before = world.media.gallery[0]
    assert isinstance(before, Video) and before.source.cover is not None
    cover_id = world.set_cover(video_id, body=jpeg(120, 90))
    after = world.media.gallery[0]
    assert isinstance(after, Video)
    assert (after.id, after.cover_id) == (video_id, cover_id) and cover_id != before.cover_id
    assert after.source.file == before.source.file
    assert after.source.cover is not None and after.source.cover.width == 120
    # The old cover's files went; the video's own stayed.
    assert set(world.blobs.blobs) == world.used_keys()
    from_url = world.set_cover(video_id, url=world.add("c.jpg", jpeg(60, 40)))
    assert from_url != cover_id


def test_cover_refusals(world: World) -> None:
    video_id = world.add_video(world.add("a.mp4", mp4()), main=False)
    with pytest.raises(UnknownVideo):
        world.set_cover(video_id + 100, url=world.add("c.jpg", jpeg(10, 10)))
    with pytest.raises(ImageUnusable) as unusable:
        world.set_cover(video_id, body=png(10, 10))
    assert (unusable.value.code, unusable.value.message) == (
        "INVALID_IMAGE",
        "The request body is not a JPEG image",
    )
    with pytest.raises(ImageUnusable) as unusable:
        world.set_cover(video_id, url="https://shop.example/missing.jpg")
    assert unusable.value.code == "DOWNLOAD_IMAGE_FAILED"
    assert "HTTP 404 from source" in unusable.value.message
    assert world.fetcher.fetched.count(world.add("c.jpg", jpeg(10, 10))) == 0


def test_delete_main_video(world: World) -> None:
    image = _with_gallery_image(world)
    world.add_video(world.add("a.mp4", mp4()), main=True)
    pipeline = fake_pipeline(world.fetcher)
    delete = videos.remove_main_video
    assert world.run(delete, pipeline, world.store_id, world.product_id) == 1
    assert world.media.main_video is None and world.media.gallery == (image,)
    assert world.media.main_image is not None
    assert set(world.blobs.blobs) == world.used_keys()
    assert world.run(delete, pipeline, world.store_id, world.product_id) == 0
