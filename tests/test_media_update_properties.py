"""Property tests: the media-update rule against a small model of DESIGN section 3."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from product_media.api.schemas import MediaUpdateIn
from product_media.domain.media import Blob, Image, ImageFiles, MediaSet, Video, VideoFiles
from product_media.domain.media_update import InvalidUpdate, MediaSource, MediaUpdate, build_update
from product_media.domain.plan import (
    DOWNLOAD_IMAGE_FAILED,
    DOWNLOAD_VIDEO_FAILED,
    Failure,
    Ingested,
    ItemResult,
    Outcome,
    plan,
    wanted_sources,
)
from tests.media_model import image_files

# The same examples on every run, and no example database written into the checkout.
PROPERTY = settings(max_examples=200, derandomize=True, deadline=None, database=None)

# Above any generated gallery, so that the size limit (a setting, not part of the table)
# never decides the outcome.
MAX_ITEMS = 100
MAX_GENERATED_ITEMS = 7

FAILED_CODE = {"image": DOWNLOAD_IMAGE_FAILED, "video": DOWNLOAD_VIDEO_FAILED}


# --- URLs whose validity is known by construction -------------------------------------------


@dataclass(frozen=True)
class Url:
    """A generated URL and whether DESIGN section 3 lets it through validation."""

    text: str
    ok: bool


_LABEL = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
_DNS_HOST = st.lists(_LABEL, min_size=1, max_size=3).map(".".join)
_IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda quad: ".".join(map(str, quad)))
_HOST = st.one_of(
    _DNS_HOST,
    _DNS_HOST.map(str.upper),
    _IPV4,
    st.sampled_from(["[::1]", "[2001:db8::1]", "bücher.example", "xn--80ak6aa92e.com"]),
)
_PATH = st.text(alphabet=string.ascii_letters + string.digits + "-._~/%!$&'()*+,;=:@", max_size=20)
_SCHEME = st.sampled_from(["http", "https", "HTTP", "Https"])
_PORT = st.one_of(st.just(""), st.integers(1, 65535).map(lambda port: f":{port}"))
_TAIL = st.sampled_from(["", "?w=1&h=2", "#cover"])


def _url(scheme: str, host: str, port: str, path: str, tail: str) -> str:
    return f"{scheme}://{host}{port}/{path}{tail}"


def _padded(length: int) -> Callable[[str], str]:
    def pad(url: str) -> str:
        return url + "a" * (length - len(url))

    return pad


def _insert(url: str, char: str, at: int) -> str:
    at %= len(url) + 1
    return url[:at] + char + url[at:]


_GOOD = st.builds(_url, _SCHEME, _HOST, _PORT, _PATH, _TAIL)
GOOD_URLS = st.one_of(_GOOD, _GOOD.map(_padded(2048))).map(lambda text: Url(text, ok=True))

BAD_URLS = st.one_of(
    # Each family breaks one rule of DESIGN section 3. The scheme is not http(s):
    st.builds(
        _url,
        st.sampled_from(["ftp", "file", "ws", "gopher", "htp", "httpx"]),
        _HOST,
        _PORT,
        _PATH,
        _TAIL,
    ),
    # not absolute, or no host:
    st.sampled_from(
        [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "mailto:a@shop.example",
            "shop.example/a.jpg",
            "//shop.example/a.jpg",
            "/a.jpg",
            "a.jpg",
            "http://",
            "http:///a.jpg",
            "https://:443/a.jpg",
            "http://?x=1",
            "http://[::1/a.jpg",
            "http://[shop.example]/a.jpg",
            "http://shop<.example/a.jpg",
        ]
    ),
    # credentials:
    st.builds(
        lambda scheme, user, password, host, path: f"{scheme}://{user}{password}@{host}/{path}",
        _SCHEME,
        _LABEL,
        st.sampled_from(["", ":", ":secret"]),
        _HOST,
        _PATH,
    ),
    # a port no connection can use, so not a usable absolute URL:
    st.builds(
        _url,
        _SCHEME,
        _DNS_HOST,
        st.sampled_from([":0", ":65536", ":99999", ":x", ":-1"]),
        _PATH,
        _TAIL,
    ),
    # whitespace or control characters, which no valid URL contains:
    st.builds(
        _insert,
        _GOOD,
        st.sampled_from([" ", "\t", "\n", "\r", "\x00", "\x1f", "\x7f"]),
        st.integers(0, 200),
    ),
    # longer than 2048 characters:
    st.builds(lambda url, extra: _padded(2049 + extra)(url), _GOOD, st.integers(0, 50)),
).map(lambda text: Url(text, ok=False))


# Mostly good, so that a request often gets as far as an item with no URL at all.
ANY_URLS = st.one_of(GOOD_URLS, GOOD_URLS, GOOD_URLS, BAD_URLS)


# --- Request bodies as JSON ------------------------------------------------------------------

_MISSING_FORMS = ("absent", "null", "empty")
ALL_SHAPES = ("image", "video", "both", "neither")
VALID_SHAPES = ("image", "video", "both")

# Keys that look like the real ones but are not: the schema must refuse them, naming them.
_ITEM_EXTRAS = ["imageURL", "image_url", "ImageUrl", "url", "videoURL", "alt", "id", "isMain"]
_TOP_EXTRAS = ["MainMedia", "mainImage", "gallery", "galleryImages", "media", "images", "videos"]
_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=5),
    st.just(["https://junk.example/x.jpg"]),
    st.just({"imageUrl": "https://junk.example/x.jpg"}),
)

Body = dict[str, Any]


@st.composite
def request_bodies(
    draw: st.DrawFn, urls: st.SearchStrategy[Url], shapes: tuple[str, ...]
) -> tuple[Body, dict[str, bool]]:
    """A PUT .../media body, and the validity of every URL placed in it."""
    verdicts: dict[str, bool] = {}

    def slot(target: Body, key: str, wanted: bool) -> None:
        if wanted:
            url = draw(urls)
            verdicts[url.text] = url.ok
            target[key] = url.text
            return
        form = draw(st.sampled_from(_MISSING_FORMS))
        if form != "absent":
            target[key] = None if form == "null" else ""

    def item(shape: str) -> Body:
        obj: Body = {}
        slot(obj, "imageUrl", shape in ("image", "both"))
        slot(obj, "videoUrl", shape in ("video", "both"))
        return obj

    body: Body = {}
    # Weighted toward an object: only that can change the main media.
    main_form = draw(st.sampled_from(["absent", "null", "object", "object", "object"]))
    if main_form == "null":
        body["mainMedia"] = None
    elif main_form == "object":
        # "neither" here is {} or an object whose URLs are all null or "".
        body["mainMedia"] = item(draw(st.sampled_from(ALL_SHAPES)))
    gallery_form = draw(st.sampled_from(["absent", "null", "list"]))
    if gallery_form == "null":
        body["galleryMedia"] = None
    elif gallery_form == "list":
        item_shapes = draw(st.lists(st.sampled_from(shapes), max_size=MAX_GENERATED_ITEMS))
        body["galleryMedia"] = [item(shape) for shape in item_shapes]
    return body, verdicts


def update_from(body: Body) -> MediaUpdate:
    """The route's way from JSON to the rule: the request schema, then build_update."""
    parsed = MediaUpdateIn.model_validate(body)
    main = parsed.mainMedia
    pairs = [(item.imageUrl, item.videoUrl) for item in parsed.galleryMedia or ()]
    return build_update(
        None if main is None else (main.imageUrl, main.videoUrl),
        pairs,
        max_gallery_items=MAX_ITEMS,
    )


# --- The model: what DESIGN section 3 says a request means -----------------------------------


@dataclass(frozen=True)
class Wanted:
    """One requested item: an image URL, a video URL, or both."""

    image: str | None
    video: str | None

    def parts(self) -> list[tuple[str, str]]:
        pairs = (("image", self.image), ("video", self.video))
        return [(kind, url) for kind, url in pairs if url is not None]


@dataclass(frozen=True)
class Reading:
    """A request as the table reads it; `main` is None when the main media stays."""

    main: Wanted | None
    gallery: tuple[Wanted, ...]
    problems: frozenset[tuple[str, str]]  # (errorCode, field)

    def sources(self) -> frozenset[tuple[str, str]]:
        items = ([self.main] if self.main is not None else []) + list(self.gallery)
        return frozenset(part for item in items for part in item.parts())


def _given(obj: Mapping[str, Any], key: str) -> str | None:
    value: str | None = obj.get(key)
    return value or None


def read_request(body: Body, verdicts: Mapping[str, bool]) -> Reading:
    """The model of validation and of the table's request column."""
    problems: set[tuple[str, str]] = set()

    def wanted(field: str, obj: Mapping[str, Any]) -> Wanted:
        item = Wanted(_given(obj, "imageUrl"), _given(obj, "videoUrl"))
        for name, url in (("imageUrl", item.image), ("videoUrl", item.video)):
            if url is not None and not verdicts[url]:
                problems.add(("WRONG_URL", f"{field}.{name}"))
        return item

    main = None
    if body.get("mainMedia") is not None:
        main = wanted("mainMedia", body["mainMedia"])
        if not main.parts():
            main = None
    gallery = []
    for index, obj in enumerate(body.get("galleryMedia") or []):
        item = wanted(f"galleryMedia[{index}]", obj)
        if not item.parts():
            problems.add(("WRONG_PARAMETER", f"galleryMedia[{index}]"))
        gallery.append(item)
    return Reading(main, tuple(gallery), frozenset(problems))


@dataclass(frozen=True)
class Done:
    id: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Failed:
    """Every failing part could be the one reported: (errorCode, url, message if known)."""

    reasons: tuple[tuple[str, str, str | None], ...]


@dataclass(frozen=True)
class Got:
    image: ImageFiles | None
    video: VideoFiles | None
    warnings: tuple[str, ...]


def _fetch(item: Wanted, fetched: Mapping[tuple[str, str], Outcome]) -> Got | Failed:
    files: dict[str, ImageFiles | VideoFiles] = {}
    warnings: list[str] = []
    reasons: list[tuple[str, str, str | None]] = []
    for kind, url in item.parts():
        outcome = fetched.get((kind, url))
        if isinstance(outcome, Ingested):
            files[kind] = outcome.files
            warnings.extend([outcome.warning] if outcome.warning else [])
        else:
            # Ingest never reporting on a source is just another unusable source.
            message = outcome.message if outcome is not None else None
            reasons.append((FAILED_CODE[kind], url, message))
    if reasons:
        return Failed(tuple(reasons))
    image, video = files.get("image"), files.get("video")
    assert image is None or isinstance(image, ImageFiles)
    assert video is None or isinstance(video, VideoFiles)
    return Got(image, video, tuple(warnings))


@dataclass(frozen=True)
class Expected:
    media: MediaSet
    main: Done | Failed | None
    gallery: tuple[Done | Failed, ...]


def model_plan(
    current: MediaSet, reading: Reading, fetched: Mapping[tuple[str, str], Outcome]
) -> Expected:
    """The table, the failure rules and the id rule of DESIGN sections 2 and 3."""
    main_image, main_video = current.main_image, current.main_video
    main_result: Done | Failed | None = None
    if reading.main is not None:
        got = _fetch(reading.main, fetched)
        if isinstance(got, Failed):
            main_result = got
        else:
            main_image = Image(got.image) if got.image is not None else None
            main_video = Video(got.video) if got.video is not None else None
            main_result = Done("0", got.warnings)

    gallery: list[Image | Video] = []
    results: list[Done | Failed] = []
    for item in reading.gallery:
        got = _fetch(item, fetched)
        if isinstance(got, Failed):
            results.append(got)
            continue
        new: Image | Video
        if got.video is not None:
            cover = got.image if got.image is not None else got.video.cover
            new = Video(replace(got.video, cover=cover))
        else:
            assert got.image is not None
            new = Image(got.image)
        gallery.append(new)
        # Ids are positions in media.images / media.videos, where "0" is always the main slot.
        position = sum(isinstance(other, type(new)) for other in gallery)
        results.append(Done(str(position), got.warnings))
    media = MediaSet(main_image=main_image, main_video=main_video, gallery=tuple(gallery))
    return Expected(media, main_result, tuple(results))


def check_result(result: ItemResult, expected: Done | Failed) -> None:
    """One response item against the model's verdict for it."""
    if isinstance(expected, Done):
        assert result.success and result.id == expected.id
        assert result.error_code is None and result.error_message is None
        if expected.warnings:
            assert result.warning is not None
            assert all(warning in result.warning for warning in expected.warnings)
        else:
            assert result.warning is None
        return
    assert not result.success and result.id is None and result.warning is None
    message = result.error_message or ""
    assert any(
        result.error_code == code and (message == known if known else url in message)
        for code, url, known in expected.reasons
    ), (result, expected)


# --- Generated product state and ingest outcomes ---------------------------------------------


def _video_files(name: str, *, provider: bool, cover: bool) -> VideoFiles:
    own_cover = image_files(f"{name}-cover") if cover else None
    if provider:
        return VideoFiles(
            url=f"https://www.youtube.com/watch?v={name}",
            provider_name="YouTube",
            title=name,
            cover=own_cover,
        )
    return VideoFiles(file=Blob(f"{name}.mp4", "video/mp4"), cover=own_cover)


def _media_set(has_image: bool, has_video: bool, kinds: list[str]) -> MediaSet:
    def old(index: int, kind: str) -> Image | Video:
        if kind == "image":
            return Image(image_files(f"old-{index}"), id=100 + index)
        return Video(_video_files(f"old-{index}", provider=False, cover=True), id=100 + index)

    return MediaSet(
        main_image=Image(image_files("old-main"), id=1) if has_image else None,
        main_video=Video(_video_files("old-main", provider=True, cover=True), id=2, cover_id=3)
        if has_video
        else None,
        gallery=tuple(old(index, kind) for index, kind in enumerate(kinds)),
    )


MEDIA_SETS = st.builds(
    _media_set,
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from(["image", "video"]), max_size=4),
)

# Few URLs, so that one URL often serves several items, or is wanted as an image and a video.
POOL = ("https://a.example/1", "https://b.example/2", "http://c.example:8080/3")
POOL_URLS = st.sampled_from(POOL).map(lambda text: Url(text, ok=True))


@st.composite
def fetch_outcomes(draw: st.DrawFn) -> dict[tuple[str, str], Outcome]:
    """What ingest reports for each (kind, url) of the pool; a missing key was never reported."""
    fetched: dict[tuple[str, str], Outcome] = {}
    for index, url in enumerate(POOL):
        for kind in ("image", "video"):
            # Weighted toward success, so that items with two parts often succeed as a whole.
            form = draw(st.sampled_from(["ok", "ok", "warned", "failed", "absent"]))
            if form == "absent":
                continue
            if form == "failed":
                fetched[kind, url] = Failure(FAILED_CODE[kind], f"{url}: {kind} refused")
                continue
            name = f"new-{kind}-{index}"
            files: ImageFiles | VideoFiles = (
                image_files(name)
                if kind == "image"
                else _video_files(name, provider=draw(st.booleans()), cover=draw(st.booleans()))
            )
            warning = f"{kind} {url} added without its cover" if form == "warned" else None
            fetched[kind, url] = Ingested(files, warning)
    return fetched


# --- Properties ------------------------------------------------------------------------------


def _pair(source: MediaSource | None) -> Wanted | None:
    return None if source is None else Wanted(source.image_url, source.video_url)


@PROPERTY
@given(request_bodies(ANY_URLS, ALL_SHAPES), st.data())
def test_an_unknown_field_is_refused_by_name(
    case: tuple[Body, dict[str, bool]], data: st.DataObject
) -> None:
    """A typo must never count as a missing field (which would delete media): any key the
    schema does not know, at the top or in an item, is refused at its own location."""
    body, _ = case
    items = [body["mainMedia"]] if isinstance(body.get("mainMedia"), dict) else []
    items += body.get("galleryMedia") or []
    places: list[tuple[Body, tuple[str | int, ...], list[str]]] = [(body, (), _TOP_EXTRAS)]
    if isinstance(body.get("mainMedia"), dict):
        places.append((body["mainMedia"], ("mainMedia",), _ITEM_EXTRAS))
    places += [
        (item, ("galleryMedia", index), _ITEM_EXTRAS)
        for index, item in enumerate(body.get("galleryMedia") or [])
    ]
    target, location, extras = data.draw(st.sampled_from(places))
    key = data.draw(st.sampled_from(extras))
    target[key] = data.draw(_JUNK)
    with pytest.raises(ValidationError) as caught:
        MediaUpdateIn.model_validate(body)
    assert ("extra_forbidden", (*location, key)) in {
        (error["type"], error["loc"]) for error in caught.value.errors()
    }


@PROPERTY
@given(request_bodies(ANY_URLS, ALL_SHAPES))
def test_build_update_follows_the_request_table(case: tuple[Body, dict[str, bool]]) -> None:
    """Invalid exactly when the model finds a problem; otherwise the same meaning."""
    body, verdicts = case
    reading = read_request(body, verdicts)
    if reading.problems:
        with pytest.raises(InvalidUpdate) as caught:
            update_from(body)
        error = caught.value
        # The field comes first in every validation message, e.g. "galleryMedia[3].imageUrl ...".
        field = error.message.split(" ", 1)[0]
        assert (error.code, field) in reading.problems, error.message
        return
    update = update_from(body)
    assert _pair(update.main) == reading.main
    assert tuple(_pair(item) for item in update.gallery) == reading.gallery
    assert wanted_sources(update) == reading.sources()


@PROPERTY
@given(
    current=MEDIA_SETS,
    case=request_bodies(POOL_URLS, VALID_SHAPES),
    fetched=fetch_outcomes(),
)
def test_plan_follows_the_table_and_failure_rules(
    current: MediaSet,
    case: tuple[Body, dict[str, bool]],
    fetched: dict[tuple[str, str], Outcome],
) -> None:
    """New media set and per-item results as the model of sections 2 and 3 predicts."""
    body, verdicts = case
    reading = read_request(body, verdicts)
    assert not reading.problems, "the generator makes only valid requests here"
    update = update_from(body)
    assert wanted_sources(update) == reading.sources()

    new, results = plan(current, update, fetched)
    expected = model_plan(current, reading, fetched)

    assert new.main_image == expected.media.main_image
    assert new.main_video == expected.media.main_video
    assert new.gallery == expected.media.gallery
    if expected.main is None:
        assert results.main is None
    else:
        assert results.main is not None
        check_result(results.main, expected.main)
    assert len(results.gallery) == len(expected.gallery)
    for result, item in zip(results.gallery, expected.gallery, strict=True):
        check_result(result, item)
