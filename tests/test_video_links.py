"""YouTube and Vimeo links recognised by their shape (domain/video_links.py)."""

from __future__ import annotations

import pytest

from product_media.domain.video_links import ProviderLink, recognise

YT = "dQw4w9WgXcQ"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # YouTube: every host and path form, any scheme and extra parameters.
        (f"https://www.youtube.com/watch?v={YT}", ("YouTube", YT)),
        (f"https://youtube.com/watch?v={YT}", ("YouTube", YT)),
        (f"http://m.youtube.com/watch?v={YT}&t=42s", ("YouTube", YT)),
        (f"https://www.youtube.com/watch?feature=share&v={YT}", ("YouTube", YT)),
        (f"https://WWW.YouTube.com/watch?v={YT}", ("YouTube", YT)),
        (f"https://youtu.be/{YT}", ("YouTube", YT)),
        (f"https://youtu.be/{YT}?si=abc", ("YouTube", YT)),
        (f"https://www.youtube.com/shorts/{YT}", ("YouTube", YT)),
        (f"https://m.youtube.com/shorts/{YT}/", ("YouTube", YT)),
        (f"https://www.youtube.com/embed/{YT}?start=10", ("YouTube", YT)),
        (f"https://www.youtube-nocookie.com/embed/{YT}", ("YouTube", YT)),
        (f"https://www.youtube.com:443/watch?v={YT}", ("YouTube", YT)),
        # Vimeo: the page and the player.
        ("https://vimeo.com/76979871", ("Vimeo", "76979871")),
        ("https://www.vimeo.com/76979871/", ("Vimeo", "76979871")),
        ("https://player.vimeo.com/video/76979871", ("Vimeo", "76979871")),
        ("https://player.vimeo.com/video/76979871?autoplay=1", ("Vimeo", "76979871")),
        # An unlisted Vimeo video, whose privacy hash its page and player need.
        ("https://vimeo.com/76979871/8272103f6e", ("Vimeo", "76979871")),
        ("https://player.vimeo.com/video/76979871?h=8272103f6e", ("Vimeo", "76979871")),
        # Not a video of either: fetched as a file instead (and refused there if a page).
        ("https://www.youtube.com/watch?v=short", None),
        (f"https://www.youtube.com/watch?v={YT}x", None),
        ("https://www.youtube.com/watch", None),
        (f"https://www.youtube.com/channel/{YT}", None),
        (f"https://music.youtube.com/watch?v={YT}", None),
        (f"https://youtube.com.evil.example/watch?v={YT}", None),
        (f"https://evil.example/youtu.be/{YT}", None),
        (f"https://www.youtube-nocookie.com/shorts/{YT}", None),
        (f"https://www.youtube.com:8443/watch?v={YT}", None),
        (f"ftp://youtu.be/{YT}", None),
        ("https://vimeo.com/channels/staffpicks", None),
        ("https://vimeo.com/76979871/abcdef", None),
        ("https://player.vimeo.com/video/76979871?h=not-a-hash", None),
        ("https://player.vimeo.com/76979871", None),
        ("https://example.com/video.mp4", None),
        ("not a url", None),
        ("https://[::1", None),
    ],
)
def test_recognise(url: str, expected: tuple[str, str] | None) -> None:
    link = recognise(url)
    assert (None if link is None else (link.provider, link.video_id)) == expected


@pytest.mark.parametrize(
    ("link", "page", "player"),
    [
        (
            ProviderLink("YouTube", YT),
            f"https://www.youtube.com/watch?v={YT}",
            f"https://www.youtube-nocookie.com/embed/{YT}",
        ),
        (
            ProviderLink("Vimeo", "76979871"),
            "https://vimeo.com/76979871",
            "https://player.vimeo.com/video/76979871",
        ),
        (
            ProviderLink("Vimeo", "76979871", "8272103f6e"),
            "https://vimeo.com/76979871/8272103f6e",
            "https://player.vimeo.com/video/76979871?h=8272103f6e",
        ),
    ],
)
def test_page_and_player(link: ProviderLink, page: str, player: str) -> None:
    assert (link.page_url, link.player_url) == (page, player)
