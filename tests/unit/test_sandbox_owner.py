"""Who owns a sandbox container (``launchers/docker.py: owner_id``): the deployment's store
itself, so a reaper never ends another deployment's sandboxes on a shared Docker engine."""

from __future__ import annotations

from functions.runtime.sandbox.launchers.docker import owner_id
from functions.runtime.settings import Settings


def test_two_checkouts_on_the_default_relative_store_are_two_owners(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    default = Settings(store_url="file://.data/store")
    monkeypatch.chdir(tmp_path / "a")
    in_a = owner_id(default)
    assert in_a == owner_id(Settings(store_url=f"file://{tmp_path}/a/.data/store"))
    monkeypatch.chdir(tmp_path / "b")
    assert owner_id(default) != in_a


def test_buckets_of_two_endpoints_are_two_owners():
    url = "s3://agentscope-faas/store"
    one = owner_id(Settings(store_url=url, s3_endpoint_url="http://127.0.0.1:9000"))
    other = owner_id(Settings(store_url=url, s3_endpoint_url="http://127.0.0.1:9001"))
    assert one != other
    assert one == owner_id(Settings(store_url=url, s3_endpoint_url="http://127.0.0.1:9000"))
    oss = "oss://agentscope-faas/store"
    assert owner_id(Settings(store_url=oss, oss_endpoint="http://127.0.0.1:9100")) != owner_id(
        Settings(store_url=oss, oss_endpoint="http://127.0.0.1:9101")
    )
