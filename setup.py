"""What pyproject.toml cannot say: the wheel ships the repository's scenarios/ and docs/.

They are package data of ``possim`` (``possim/scenarios``, ``possim/docs`` in
the wheel, found by :mod:`possim.bundled`) without a second copy in the
repository: ``package_dir`` maps the two data packages onto the top-level
folders, and a package list with a mapping cannot be written as
``[tool.setuptools.packages.find]``. Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

CODE = ["possim", "simulator", "simulator.*", "drivers", "drivers.*"]
DATA = ["firmware_fixtures", "firmware_fixtures.*"]
DATA_FILES = ["*.yaml", "*.yml", "*.json", "*.jsonl", "*.toml", "*.tcss", "*.txt", "*.png"]

setup(
    packages=[
        *find_namespace_packages(include=CODE + DATA, exclude=["*.__pycache__"]),
        "possim.scenarios",
        "possim.docs",
    ],
    package_dir={"possim.scenarios": "scenarios", "possim.docs": "docs"},
    package_data={
        "": [*DATA_FILES, "py.typed"],
        "simulator.starter": ["*.ini", "*.md", "gitignore", "*.txt"],
        "firmware_fixtures.cards": ["README.md"],
        "possim.scenarios": ["*.yaml"],
        "possim.docs": ["*.md", "*.json"],
    },
)
