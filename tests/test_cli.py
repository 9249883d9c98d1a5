"""The command line in-process (click's CliRunner): stores and tokens, a missing catalog, bad
settings. The commands run on the same catalog as a running service, on both backends."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import inspect, text

from product_media.cli import NO_PREFIX, main
from product_media.domain.access import CATALOG_SCOPES, new_token, token_hash
from product_media.storage.catalog import SqlCatalog
from product_media.storage.engine import make_engine
from tests.databases import temporary_database
from tests.inprocess import InProcessService
from tests.media_factory import jpeg
from tests.service import free_port
from tests.source_server import SourceServer


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(result: Result, *, exit_code: int = 1) -> str:
    """The one line a refused command prints; it exits non-zero and prints no traceback."""
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def options_of(service: InProcessService) -> list[str]:
    """The options that point a command at the service's catalog and blobs."""
    settings = service.settings
    options = ["--data", str(service.data)]
    if settings.database_url is not None:
        options += ["--database-url", settings.database_url]
    return options


def blob_options_of(service: InProcessService) -> list[str]:
    settings = service.settings
    if settings.blob_url is None:
        return []
    assert settings.s3_endpoint_url is not None
    return ["--blob-url", settings.blob_url, "--s3-endpoint-url", settings.s3_endpoint_url]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder with a catalog: store 1 (and a second store)."""
    folder = tmp_path / "data"
    assert ok("stores", "create", "--data", str(folder), "--name", "First shop").strip() == "1"
    assert ok("stores", "create", "--data", str(folder), "--name", "Second\tshop") == "2\n"
    return folder


# -- stores ------------------------------------------------------------------------------------


def test_stores_list_is_a_line_per_store(data: Path) -> None:
    # A tab in a name would break the line's two fields apart: it is kept as it is, last.
    assert ok("stores", "list", "--data", str(data)) == "1\tFirst shop\n2\tSecond\tshop\n"


def test_stores_delete_takes_tokens_along(data: Path) -> None:
    ok("tokens", "create", "--data", str(data), "--store", "2")
    ok("stores", "delete", "--data", str(data), "2")
    assert ok("stores", "list", "--data", str(data)) == "1\tFirst shop\n"
    line = refused(run("tokens", "list", "--data", str(data), "--store", "2"))
    assert "store 2 does not exist" in line
    line = refused(run("stores", "delete", "--data", str(data), "2"))
    assert "store 2 does not exist" in line


def test_stores_delete_frees_its_media_files(
    service: InProcessService, sources: SourceServer
) -> None:
    """Like a product's delete: files only the store's products used go; a file another
    store's product uses too stays."""
    doomed, doomed_token = service.new_store()
    kept, kept_token = service.new_store()
    shared = sources.add(f"/cli/{uuid.uuid4().hex}/shared.jpg", jpeg(90, 60))
    own = sources.add(f"/cli/{uuid.uuid4().hex}/own.jpg", jpeg(91, 61))

    def product_with(token: str, store_id: int, urls: list[str]) -> dict[str, Any]:
        with service.client(token) as client:
            created = client.post(f"/api/v3/{store_id}/products", json={"name": "Shirt"})
            path = f"/api/v3/{store_id}/products/{created.json()['id']}"
            body = {"galleryMedia": [{"imageUrl": url} for url in urls]}
            answer = client.put(f"{path}/media", json=body)
            assert answer.status_code == 200, answer.text
            assert all(item["success"] for item in answer.json()["galleryMedia"]), answer.text
            product: dict[str, Any] = client.get(path).json()
            return product

    def files(product: dict[str, Any]) -> set[str]:
        return {
            image[field]
            for image in product["media"]["images"]
            for field in ("image160pxUrl", "image400pxUrl", "image800pxUrl", "image1500pxUrl")
        }

    gone = files(product_with(doomed_token, doomed, [shared, own]))
    stays = files(product_with(kept_token, kept, [shared]))
    assert stays < gone
    with service.client(None) as client:
        assert all(client.get(url).status_code == 200 for url in gone)

    ok("stores", "delete", *options_of(service), *blob_options_of(service), str(doomed))

    with service.client(None) as client:
        assert all(client.get(url).status_code == 404 for url in gone - stays)
        assert all(client.get(url).status_code == 200 for url in stays)
    with service.client(doomed_token) as client:
        assert client.get(f"/api/v3/{doomed}/products").status_code == 403
    with service.client(kept_token) as client:
        assert client.get(f"/api/v3/{kept}/products").json()["total"] == 1


# -- tokens ------------------------------------------------------------------------------------


def test_tokens_list_shows_prefixes_and_scopes_never_the_token(data: Path) -> None:
    secret = ok("tokens", "create", "--data", str(data), "--store", "1").strip()
    reader = ok(
        "tokens", "create", "--data", str(data), "--store", "1", "--scopes", "read_catalog"
    ).strip()
    public = ok("tokens", "create", "--data", str(data), "--store", "1", "--public").strip()
    ok("tokens", "create", "--data", str(data), "--store", "2")

    listed = ok("tokens", "list", "--data", str(data), "--store", "1")

    assert listed.splitlines() == [
        f"{secret[:12]}\t{','.join(sorted(CATALOG_SCOPES))}",
        f"{reader[:12]}\tread_catalog",
        f"{public[:12]}\tpublic",
    ]
    for token in (secret, reader, public):
        assert token[:13] not in listed


def test_a_token_made_before_prefixes_were_kept_lists_with_a_placeholder(data: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{data / 'catalog.db'}")
    token = new_token("secret")
    try:
        catalog.add_token(1, token_hash(token), "secret", ["read_catalog"])
    finally:
        catalog.close()
    listed = ok("tokens", "list", "--data", str(data), "--store", "1")
    assert listed == f"{NO_PREFIX}\tread_catalog\n"
    # Without a prefix it is revoked by the whole token.
    line = refused(run("tokens", "revoke", "--data", str(data), token[:12]))
    assert f"no token starts with {token[:12]!r}" in line
    ok("tokens", "revoke", "--data", str(data), token)
    assert ok("tokens", "list", "--data", str(data), "--store", "1") == ""


def test_revoke_refuses_unknown_and_ambiguous_prefixes(data: Path) -> None:
    first = ok("tokens", "create", "--data", str(data), "--store", "1").strip()
    second = ok("tokens", "create", "--data", str(data), "--store", "2").strip()

    line = refused(run("tokens", "revoke", "--data", str(data), "public_"))
    assert "no token starts with 'public_'" in line
    line = refused(run("tokens", "revoke", "--data", str(data), "secret_"))
    assert "2 tokens match 'secret_'" in line and "give more of the token" in line
    line = refused(run("tokens", "revoke", "--data", str(data), first + "x"))
    assert "no token is the token given" in line and first not in line
    # Prefixes are told apart by case, as tokens are (SQLite's LIKE would not).
    catalog = SqlCatalog(f"sqlite:///{data / 'catalog.db'}")
    try:
        catalog.add_token(2, token_hash("x"), "public", ["read_catalog"], prefix="public_AbCdE")
    finally:
        catalog.close()
    line = refused(run("tokens", "revoke", "--data", str(data), "public_abcde"))
    assert "no token starts with 'public_abcde'" in line
    listed = ok("tokens", "list", "--data", str(data), "--store", "1")
    assert listed.startswith(first[:12])

    ok("tokens", "revoke", "--data", str(data), first[:12])
    assert ok("tokens", "list", "--data", str(data), "--store", "1") == ""
    assert ok("tokens", "list", "--data", str(data), "--store", "2").startswith(second[:12])


def test_a_revoked_token_stops_working_at_once(service: InProcessService) -> None:
    """No server keeps a grant: the next request after the revoke is refused."""
    store_id, _ = service.new_store()
    options = options_of(service)
    token = ok("tokens", "create", *options, "--store", str(store_id)).strip()
    other = ok("tokens", "create", *options, "--store", str(store_id), "--public").strip()
    with service.client(token) as client:
        assert client.get(f"/api/v3/{store_id}/products").status_code == 200
        ok("tokens", "revoke", *options, token[:12])
        answer = client.get(f"/api/v3/{store_id}/products")
        assert answer.status_code == 403 and answer.json()["errorCode"] == "INVALID_API_TOKEN"
    with service.client(other) as client:
        assert client.get(f"/api/v3/{store_id}/products").status_code == 200


def test_public_with_scopes_is_refused(data: Path) -> None:
    result = run(
        "tokens", "create", "--data", str(data), "--store", "1", "--public", "--scopes", "x"
    )
    assert "--public" in refused(result, exit_code=2) and "--scopes" in result.stderr
    assert ok("tokens", "list", "--data", str(data), "--store", "1") == ""


def test_token_for_the_demo_store(tmp_path: Path) -> None:
    """What `make token` runs: the demo store and its product are made in an empty folder,
    and every later call gives another token for that store."""
    folder = tmp_path / "fresh"
    first = ok("tokens", "create", "--demo", "--data", str(folder)).strip()
    second = ok("tokens", "create", "--demo", "--data", str(folder)).strip()
    assert first.startswith("secret_") and second.startswith("secret_") and first != second
    assert ok("stores", "list", "--data", str(folder)) == "1\tDemo store\n"
    assert len(ok("tokens", "list", "--data", str(folder), "--store", "1").splitlines()) == 2
    line = refused(
        run("tokens", "create", "--demo", "--store", "1", "--data", str(folder)), exit_code=2
    )
    assert "either --store N or --demo" in line


# -- a catalog that is not there ---------------------------------------------------------------

READING = [
    ("stores", "list"),
    ("stores", "delete", "1"),
    ("tokens", "list", "--store", "1"),
    ("tokens", "create", "--store", "1"),
    ("tokens", "revoke", "secret_abcde"),
]


@pytest.mark.parametrize("command", READING, ids=[" ".join(c[:2]) for c in READING])
def test_commands_that_read_a_catalog_refuse_a_folder_without_one(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    folder = tmp_path / "nonexist"
    line = refused(run(*command, "--data", str(folder)))
    assert f"there is no catalog at --data {folder}" in line
    assert not folder.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(run(*command, "--data", str(empty)))
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("command", READING, ids=[" ".join(c[:2]) for c in READING])
def test_commands_that_read_a_catalog_refuse_a_database_without_one(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    with temporary_database() as url:
        line = refused(run(*command, "--data", str(tmp_path), "--database-url", url))
        assert "there is no catalog in the database" in line
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                assert inspect(conn).get_table_names() == []
        finally:
            engine.dispose()


# -- bad settings ------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import os

    for name in list(os.environ):
        if name.startswith("PRODUCT_MEDIA_"):
            monkeypatch.delenv(name)
    yield


BAD_URLS = [
    ("mysql://user@db/shop", "unsupported database URL mysql://..."),
    ("postgres://...", "'...' is not a host name"),
    ("nonsense", "not a database URL"),
]


@pytest.mark.parametrize(("url", "reason"), BAD_URLS, ids=[u for u, _ in BAD_URLS])
@pytest.mark.parametrize("command", [("stores", "create"), ("stores", "list"), ("serve",)])
def test_a_bad_database_url_is_one_line(
    tmp_path: Path, clean_env: None, url: str, reason: str, command: tuple[str, ...]
) -> None:
    line = refused(run(*command, "--data", str(tmp_path), "--database-url", url), exit_code=2)
    assert line.startswith(
        f"Error: bad setting PRODUCT_MEDIA_DATABASE_URL (--database-url): {reason}"
    )
    # In the environment, the same line.
    env = {"PRODUCT_MEDIA_DATABASE_URL": url}
    assert refused(run(*command, "--data", str(tmp_path), env=env), exit_code=2) == line


@pytest.mark.parametrize("command", [("stores", "create"), ("tokens", "list", "--store", "1")])
def test_a_database_that_does_not_answer_is_one_line(
    tmp_path: Path, clean_env: None, command: tuple[str, ...]
) -> None:
    url = f"postgresql://someone:hunter2@127.0.0.1:{free_port()}/shop"
    line = refused(run(*command, "--data", str(tmp_path), "--database-url", url))
    assert "cannot use the catalog database postgresql://someone:***@127.0.0.1" in line
    assert "(set by PRODUCT_MEDIA_DATABASE_URL (--database-url))" in line
    assert "hunter2" not in line


def test_serve_refuses_a_database_that_does_not_answer(tmp_path: Path, clean_env: None) -> None:
    url = f"postgresql://someone@127.0.0.1:{free_port()}/shop"
    line = refused(run("serve", "--data", str(tmp_path), "--database-url", url))
    assert "cannot use the catalog database" in line


NUMBERS = [
    (("serve", "--port", "eighty"), {}, "PRODUCT_MEDIA_PORT (--port)"),
    (("serve", "--workers", "two"), {}, "PRODUCT_MEDIA_WORKERS (--workers)"),
    (("serve",), {"PRODUCT_MEDIA_PORT": "eighty"}, "PRODUCT_MEDIA_PORT (--port)"),
    (("serve",), {"PRODUCT_MEDIA_UPDATE_TIMEOUT": "soon"}, "PRODUCT_MEDIA_UPDATE_TIMEOUT:"),
    (("stores", "list"), {"PRODUCT_MEDIA_WORKERS": "two"}, "PRODUCT_MEDIA_WORKERS:"),
    (
        ("serve",),
        {"PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS": "home"},
        "PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS (--allow-source-network)",
    ),
]


@pytest.mark.parametrize(("command", "env", "named"), NUMBERS)
def test_a_bad_value_is_one_line_naming_the_setting(
    tmp_path: Path, clean_env: None, command: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    """The option is named only where the command has one; the environment variable always."""
    line = refused(run(*command, "--data", str(tmp_path), env=env), exit_code=2)
    assert line.startswith(f"Error: bad setting {named}")
    if named.endswith(":"):
        assert "(--" not in line
    assert not (tmp_path / "catalog.db").exists()


# -- the refused address names the setting that allows it -------------------------------------


@pytest.fixture(scope="module")
def strict_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """A service that allows no internal network, as one runs by default."""
    service = InProcessService(tmp_path_factory.mktemp("strict"), allow_source_networks="")
    service.start()
    yield service
    service.stop()


HINT = "allow with PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS"


@pytest.mark.parametrize(
    ("host", "told"),
    [
        ("127.0.0.1", "refused address 127.0.0.1 (loopback)"),
        ("[::1]", "refused address ::1 (loopback)"),
        ("localhost", "host resolves to a refused network"),
    ],
)
def test_a_refused_address_names_the_setting_on_every_endpoint(
    strict_service: InProcessService, sources: SourceServer, host: str, told: str
) -> None:
    store_id, token = strict_service.new_store()
    image = sources.url(f"/cli/{uuid.uuid4().hex}/a.jpg", host=host)
    video = sources.url(f"/cli/{uuid.uuid4().hex}/a.mp4", host=host)
    with strict_service.client(token) as client:
        created = client.post(f"/api/v3/{store_id}/products", json={"name": "Shirt"})
        path = f"/api/v3/{store_id}/products/{created.json()['id']}"
        body = {"mainMedia": {"imageUrl": image}, "galleryMedia": [{"videoUrl": video}]}
        results = client.put(f"{path}/media", json=body).json()
        messages = [
            results["mainMedia"]["errorMessage"],
            results["galleryMedia"][0]["errorMessage"],
            client.post(f"{path}/video", json={"url": video}).json()["errorMessage"],
            client.post(f"{path}/image", params={"externalUrl": image}).json()["errorMessage"],
        ]
    for message in messages:
        assert message.endswith(f"{told}; {HINT}"), message
        if host == "localhost":
            assert "127.0.0.1" not in message and "::1" not in message


# -- revision 0005: token prefixes -------------------------------------------------------------


def _alembic(url: str, revision: str, *, down: bool = False) -> None:
    from importlib.resources import files

    from alembic import command
    from alembic.config import Config

    from product_media.storage.engine import write_transaction

    config = Config()
    config.set_main_option(
        "script_location", str(files("product_media.storage").joinpath("migrations"))
    )
    engine = make_engine(url)
    try:
        with write_transaction(engine) as conn:
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_tokens_from_before_revision_0005_keep_working(kind: str, tmp_path: Path) -> None:
    """A token made at revision 0004 lists with the placeholder after the upgrade, and the
    revision goes down and up again without losing a token."""
    with contextlib.ExitStack() as stack:
        if kind == "postgresql":
            url = stack.enter_context(temporary_database())
        else:
            url = f"sqlite:///{tmp_path / 'catalog.db'}"
        options = ["--data", str(tmp_path), "--database-url", url]
        _alembic(url, "0004")
        token = new_token("secret")
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO stores (id, name) VALUES (5, 'old')"))
                conn.execute(
                    text(
                        "INSERT INTO tokens (store_id, token_hash, kind, scopes) "
                        "VALUES (5, :hashed, 'secret', 'read_catalog')"
                    ),
                    {"hashed": token_hash(token)},
                )
        finally:
            engine.dispose()

        # The command migrates the catalog it extends.
        assert ok("tokens", "list", *options, "--store", "5") == f"{NO_PREFIX}\tread_catalog\n"
        made = ok("tokens", "create", *options, "--store", "5", "--public").strip()
        _alembic(url, "0004", down=True)
        _alembic(url, "0005")
        listed = ok("tokens", "list", *options, "--store", "5")
        assert listed == f"{NO_PREFIX}\tread_catalog\n{NO_PREFIX}\tpublic\n"
        ok("tokens", "revoke", *options, made)
        ok("tokens", "revoke", *options, token)
        assert ok("tokens", "list", *options, "--store", "5") == ""
