"""The README stays true: its host examples are the files `make test` compiles and runs, and
the Python one runs here."""

import os
import re
import subprocess
import sys

from fabgossip import _lib
from conftest import REPO

# README fence language -> the example file its block must equal.
EXAMPLES = {
    "c": REPO / "examples" / "c" / "minimal.c",
    "cpp": REPO / "examples" / "cpp" / "channel.cpp",
    "go": REPO / "examples" / "go" / "minimal" / "main.go",
    "python": REPO / "examples" / "python" / "minimal.py",
}


def readme_blocks():
    """(language, text) of every fenced code block in README.md."""
    readme = (REPO / "README.md").read_text()
    return re.findall(r"^```(\w*)\n(.*?)^```", readme, flags=re.S | re.M)


def test_readme_c_example_is_examples_minimal_c():
    readme = (REPO / "README.md").read_text()
    block = readme.split("```c\n", 1)[1].split("```", 1)[0]
    assert block == (REPO / "examples" / "c" / "minimal.c").read_text()


def test_every_readme_host_example_is_a_tested_file():
    blocks = [(lang, text) for lang, text in readme_blocks() if lang in EXAMPLES]
    assert sorted(lang for lang, _ in blocks) == sorted(EXAMPLES), \
        "one block per host language: C, C++, Go, Python"
    for lang, text in blocks:
        assert text == EXAMPLES[lang].read_text(), f"README's {lang} block drifted from {EXAMPLES[lang]}"


def test_make_test_builds_and_runs_the_compiled_examples():
    makefile = (REPO / "Makefile").read_text()
    test_line = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "test-c" in test_line and "test-examples" in test_line
    for path in ("examples/c/minimal.c", "examples/cpp/channel.cpp", "./minimal"):
        assert path in makefile, path


def test_readme_python_example_runs():
    env = dict(os.environ, PYTHONPATH=str(REPO / "bindings" / "python"), FABGOSSIP_LIB=str(_lib.PATH))
    r = subprocess.run([sys.executable, str(EXAMPLES["python"])], capture_output=True, text=True,
                       env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "self: {" in r.stdout and "'org': 'Org1MSP'" in r.stdout
    assert "height: 0" in r.stdout and "peers: []" in r.stdout


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
