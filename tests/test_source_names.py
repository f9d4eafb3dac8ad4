"""The product names its sources by title ("PPO from scratch", the PPO paper, "An introduction to
PPO", OpenAI Spinning Up), never by the project's own file names for them ("seed 000",
seeds/001_…): a student has never seen those files."""

import re

from conftest import ROOT

PRODUCT = ["app.py", "README.md", *(f"{d}/**/*.py" for d in ("lessons", "ui", "ppo_core"))]
JARGON = re.compile(r"seeds? ?0[0-9]{2}|seeds?/0[0-9]{2}_|the seed's", re.IGNORECASE)


def test_no_source_is_named_by_its_file():
    files = sorted({p for pattern in PRODUCT for p in ROOT.glob(pattern)})
    assert len(files) > 20  # the globs found the product
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if JARGON.search(line)
    ]
    assert not hits, "name the source by its title instead:\n" + "\n".join(hits)
