"""The fix to name in an error about a SQLite file: what helps depends on the trouble."""

from __future__ import annotations

__all__ = ["fix_for"]


def fix_for(error: BaseException, elsewhere: str, wait_longer: str = "") -> str:
    """The hint for ``error`` from a SQLite file; ``elsewhere`` says how to use another
    file (``set [storage] path``), ``wait_longer`` how to wait longer for a lock, where
    a setting says (``raise [storage] busy_timeout``); the generic hint only when
    nothing more is known."""
    name = getattr(error, "sqlite_errorname", None) or ""
    text = str(error).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return (
            "another process is using the file (an import, a prune, a sqlite3 shell):"
            f" wait for it to finish{', ' + wait_longer if wait_longer else ''}, or {elsewhere}"
        )
    if name == "SQLITE_NOTADB" or "file is not a database" in text:
        return (
            "the file is damaged or another program's: move it aside (relaykit starts"
            f" a new one there), or {elsewhere}"
        )
    if name.startswith("SQLITE_READONLY"):
        return f"make the file and its folder writable for this user, or {elsewhere}"
    if name.startswith("SQLITE_CANTOPEN"):
        return (
            "check that the path names a file, not a folder, and that its folder exists"
            f" and this user can write the file and the folder, or {elsewhere}"
        )
    return f"check the file's permissions and free disk space, or {elsewhere}"
