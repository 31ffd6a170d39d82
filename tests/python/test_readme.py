"""The README stays true: its C example is the file `make test` compiles and runs."""

from conftest import REPO


def test_readme_c_example_is_examples_minimal_c():
    readme = (REPO / "README.md").read_text()
    block = readme.split("```c\n", 1)[1].split("```", 1)[0]
    assert block == (REPO / "examples" / "c" / "minimal.c").read_text()


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
