"""The output guard (semcluster.output.files.OutputFiles) where mutation testing found it loose
(docs/mutation.md): which given inputs are guarded, what the refusal says, and a path that
cannot be inspected."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from semcluster.errors import OutputPathError
from semcluster.output.files import OutputFiles, _is_same


def test_inputs_skip_none_and_empty_names():
    """None and '' are not inputs (an option not given): only real names are guarded, so an
    output called 'None' or the current folder is not mistaken for an input."""
    guard = OutputFiles([None, "", "model.lav", Path("data.csv")])
    assert guard.inputs == [Path("model.lav"), Path("data.csv")]


def test_refusal_names_the_input_when_the_output_was_named_otherwise(tmp_path):
    """An output aimed at an input is refused; the message adds '(it is <input>)' only when
    the output was given under another name (a hard link), not when it is the same name."""
    model = tmp_path / "m.lav"
    model.write_text("f =~ a + b + c\n")
    os.link(model, tmp_path / "hard.json")
    guard = OutputFiles([model])
    with pytest.raises(OutputPathError) as same:
        guard.file(model)
    assert str(same.value) == (f"{model} is an input of this run; refusing to overwrite it, "
                               f"choose another output name")
    with pytest.raises(OutputPathError) as other:
        guard.file(tmp_path / "hard.json")
    assert f"is an input of this run (it is {model});" in str(other.value)


def test_a_path_that_cannot_be_inspected_is_not_taken_for_an_input(monkeypatch, tmp_path):
    """If the file system refuses to resolve a path (OSError), _is_same says 'not the same'
    (the later checks of the target still run) rather than failing."""
    def boom(*a, **k):
        raise OSError("unreadable")

    monkeypatch.setattr(os.path, "realpath", boom)
    assert _is_same(tmp_path / "a", tmp_path / "b") is False


def test_a_special_file_is_refused_by_name(tmp_path):
    """An output aimed at something that is not a regular file (a named pipe) is refused with
    a message naming it."""
    pipe = tmp_path / "out.csv"
    os.mkfifo(pipe)
    with pytest.raises(OutputPathError) as err:
        OutputFiles([]).file(pipe)
    assert str(err.value) == f"{pipe} is not a regular file; give a file name"


def test_an_output_below_a_file_is_refused_naming_the_output(tmp_path):
    """An output whose folder would be an existing file: the message names the output as
    given and the file in the way."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    target = blocker / "out.csv"
    with pytest.raises(OutputPathError) as err:
        OutputFiles([]).file(target)
    assert str(err.value) == f"{target}: cannot write here, {blocker} is a file, not a folder"


@pytest.mark.parametrize("name", [None, ""])
def test_an_empty_output_name_is_refused(name, tmp_path, monkeypatch):
    """No name (None) or an empty one is refused with 'empty output file name', and nothing
    named 'None' is written."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputPathError) as err:
        OutputFiles([]).file(name)
    assert str(err.value) == "empty output file name"
    assert not (tmp_path / "None").exists()


def test_a_wrong_suffix_is_refused_listing_the_allowed_ones(tmp_path):
    with pytest.raises(OutputPathError) as err:
        OutputFiles([]).file(tmp_path / "out.txt", suffixes=(".csv", ".xlsx"))
    assert str(err.value) == f"{tmp_path / 'out.txt'}: use a file name ending in .csv, .xlsx"
