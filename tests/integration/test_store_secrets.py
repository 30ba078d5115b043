"""A store's errors never carry what its client signed with: an OSS signature error's body
holds the string signed (with the STS token in it) and the access key id, and neither may
reach an error, a log line or an answer. The OSS server here answers every request as OSS
answers a bad signature."""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from functions.runtime.logs import configure_logging
from functions.runtime.settings import Settings
from functions.runtime.storage import StoreError, open_store

TOKEN = "STSTOKENMARKER0123456789abcdef"
KEY_ID = "STS.KEYIDMARKER42"


class SignatureMismatch(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code>"
            "<Message>The request signature we calculated does not match the signature you "
            "provided.</Message><RequestId>REQ1</RequestId><HostId>h</HostId>"
            f"<OSSAccessKeyId>{KEY_ID}</OSSAccessKeyId><SignatureProvided>x</SignatureProvided>"
            f"<StringToSign>GET\n\n\nx-oss-security-token:{TOKEN}\n/b/k</StringToSign>"
            "</Error>"
        ).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("x-oss-request-id", "REQ1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _refuse

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def refusing_oss() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SignatureMismatch)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_an_oss_signature_error_never_says_the_token_or_key_id(caplog, monkeypatch, level):
    with refusing_oss() as endpoint:
        settings = Settings(
            store_url="oss://leak-check/prefix",
            oss_endpoint=endpoint,
            oss_access_key_id=KEY_ID,
            oss_access_key_secret="secret-MARKER",
            oss_security_token=TOKEN,
            store_retry_attempts=1,
        )
        root = logging.getLogger()
        handlers, root_level = root.handlers[:], root.level
        try:
            monkeypatch.setenv("LOG_LEVEL", level)
            configure_logging("text")
            with caplog.at_level(level):
                store = open_store(settings.store_url, settings)
                try:
                    for call in (store.get("k"), store.put("k", b"v"), store.list("p/")):
                        with pytest.raises(StoreError) as failed:
                            await call
                        # what a traceback of it prints too (log.exception: its chain)
                        said = "".join(traceback.format_exception(failed.value))
                        assert "SignatureDoesNotMatch" in said and "403" in said
                        assert TOKEN not in said and KEY_ID not in said
                finally:
                    await store.close()
        finally:
            root.handlers[:], root.level = handlers, root_level
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and KEY_ID not in logged
