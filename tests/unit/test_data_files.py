"""The data folder at start: private modes, and the spool's crash leftovers (issue 10)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from evidence_api.core.data_files import clean_spool, private_dir, private_sqlite


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_only_upload_files_untouched_for_the_limit_are_removed(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    files = {
        "upload-old": now - 3601,  # a crash's leftover
        "upload-at-limit": now - 3600,  # not older than the limit: kept
        "upload-live": now - 5,  # another process is writing it
        "other-old": now - 86400,  # not an upload
    }
    for name, mtime in files.items():
        path = tmp_path / name
        path.write_bytes(b"x")
        os.utime(path, (mtime, mtime))
    (tmp_path / "upload-dir").mkdir()
    os.utime(tmp_path / "upload-dir", (now - 86400, now - 86400))

    removed = clean_spool(tmp_path, 3600, now=now)

    assert [p.name for p in removed] == ["upload-old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other-old",
        "upload-at-limit",
        "upload-dir",
        "upload-live",
    ]


def test_a_new_folder_is_0700_and_an_existing_one_loses_others_access(tmp_path: Path) -> None:
    new = tmp_path / "new" / "data"
    private_dir(new)
    assert mode(new) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o775)
    private_dir(shared)
    assert mode(shared) == 0o770


def test_the_sqlite_file_is_created_0600_before_sqlite_opens_it(tmp_path: Path) -> None:
    database = tmp_path / "evidence.db"
    private_sqlite(f"sqlite:///{database}")
    assert database.exists() and mode(database) == 0o600
    database.chmod(0o644)
    private_sqlite(f"sqlite:///{database}")
    assert mode(database) == 0o640
    private_sqlite("postgresql://127.0.0.1/evidence")  # not a file: nothing to do
    private_sqlite("sqlite://")  # in memory
