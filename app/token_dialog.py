"""File > Hugging Face token...: paste an access token (gated repos need one); huggingface_hub checks and keeps it
where it keeps its own (`hf auth login` writes the same file)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QWidget


def save_token(token: str) -> str:
    """Check the token with the Hub and store it; the line to show either way."""
    from huggingface_hub import login

    token = token.strip()
    if not token:
        return "No token given: nothing changed"
    try:
        login(token=token, add_to_git_credential=False, skip_if_logged_in=False)
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises several kinds; one line for the user
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
        return f"Hugging Face token not saved: {first}"
    return "Hugging Face token saved: gated models you have accepted now load"


def ask_and_save_token(parent: QWidget) -> str:
    token, ok = QInputDialog.getText(parent, "Hugging Face token",
                                     "Paste an access token from huggingface.co/settings/tokens (read access is "
                                     "enough):", QLineEdit.EchoMode.Password)
    if not ok:
        return ""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        return save_token(token)
    finally:
        QApplication.restoreOverrideCursor()
