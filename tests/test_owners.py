"""Liveness of server processes through their lock files."""

from __future__ import annotations

import threading
from pathlib import Path

from product_media.storage.owners import Owners
from tests.crashed_owner import crashed_owner


def test_a_registered_owner_is_alive_until_it_closes(tmp_path: Path) -> None:
    owners = Owners(tmp_path)
    owner = owners.register()
    assert owners.known() == {owner.id}
    assert owners.is_alive(owner.id)
    owners.forget(owner.id)
    assert owners.is_alive(owner.id), "a live owner is never forgotten"
    owner.close()
    assert not owners.is_alive(owner.id)
    assert owners.known() == set()


def test_an_owner_killed_by_sigkill_is_dead(tmp_path: Path) -> None:
    owners = Owners(tmp_path)
    dead = crashed_owner(tmp_path)
    assert dead in owners.known()
    assert not owners.is_alive(dead)
    owners.forget(dead)
    assert owners.known() == set()


def test_unknown_and_malformed_owners_are_dead(tmp_path: Path) -> None:
    owners = Owners(tmp_path)
    assert not owners.is_alive("0" * 32)
    assert not owners.is_alive("")
    assert not owners.is_alive("../../etc/passwd")


def test_owners_registering_at_once_are_all_alive_to_a_sweeper(tmp_path: Path) -> None:
    owners = Owners(tmp_path)
    registered = []
    stop = threading.Event()
    seen_dead: list[str] = []

    def sweeper() -> None:
        while not stop.is_set():
            seen_dead.extend(o for o in owners.known() if not owners.is_alive(o))

    thread = threading.Thread(target=sweeper)
    thread.start()
    try:
        registered = [owners.register() for _ in range(200)]
    finally:
        stop.set()
        thread.join()
    assert seen_dead == []
    assert owners.known() == {owner.id for owner in registered}
    for owner in registered:
        owner.close()
