"""Run the ``resurface`` command in-process, as the tests of the command line do."""

from __future__ import annotations

import pytest

from cli import main


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``resurface ARGS``; return its exit code, standard output and standard error."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err
