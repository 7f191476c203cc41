"""The test tree itself: pytest's default import mode needs unique basenames."""

from collections import Counter
from pathlib import Path


def test_test_modules_have_unique_basenames():
    # Two test files with one basename in different folders break collection
    # ("import file mismatch") for the whole run; this names them instead.
    names = Counter(path.name for path in Path(__file__).parent.rglob("test_*.py"))
    duplicates = sorted(name for name, count in names.items() if count > 1)
    assert duplicates == []
