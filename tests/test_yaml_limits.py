"""YAML that would hang or crash a reader is refused in one line, before anything walks it."""

from __future__ import annotations

import pytest

from pipesim.cli import main

LAUGHS = "\n".join(
    ["name: bomb", "description:", '  - &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"  - &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
)


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_alias_bomb_in_a_free_text_field(tmp_path, capsys, command):
    path = tmp_path / "bomb.yaml"
    if command == "run":
        path.write_text(LAUGHS, encoding="utf-8")
    else:  # a sweep whose inline base carries the bomb
        path.write_text("base:\n" + "\n".join("  " + line for line in LAUGHS.splitlines())
                        + "\ngrid:\n  parallel.microbatches: [8, 16]\n", encoding="utf-8")
    assert main([command, str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "values once its aliases (*name) are expanded" in err and err.count("\n") == 1


def test_deep_nesting(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\ndescription: " + "[" * 20000 + "]" * 20000 + "\n", encoding="utf-8")
    assert main(["run", str(path)]) == 2
    assert "nested more than 50 levels deep" in capsys.readouterr().err


def test_a_few_aliases_still_work(tmp_path):
    from pipesim.scenario import load_scenario

    path = tmp_path / "ok.yaml"
    path.write_text("name: ok\ncosts: {F: &f 1 ms, B: 2 ms, I: *f, W: *f}\nparallel: {pp: 2, microbatches: 4}\n",
                    encoding="utf-8")
    assert pytest.approx(1e-3) == load_scenario(path).costs.I


def test_many_aliases(tmp_path, capsys):
    path = tmp_path / "many.yaml"
    path.write_text("name: x\ndescription: [&a 1, " + ", ".join(["*a"] * 150) + "]\n", encoding="utf-8")
    assert main(["run", str(path)]) == 2
    assert "more than 100 alias references" in capsys.readouterr().err
