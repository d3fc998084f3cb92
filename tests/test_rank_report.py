"""report.html in a real browser (issue 11): headless Chromium through Playwright renders every
row, and clicking a column header sorts the table (again: reversed); filtering and grouping
work. Chromium: ``$BLURLIB_CHROMIUM``, else ``chromium`` / ``chromium-browser`` /
``google-chrome`` on the PATH (Debian: ``apt-get install chromium``; ``.ci/run`` installs it),
else Playwright's own download. Without one the test skips — except under CI (``$CI`` set),
where it fails.

``BLURLIB_FIGURES=1 python -m pytest tests/test_rank_report.py -k screenshot`` refreshes the
README's screenshot ``figures/rank_report.png`` from a real ``rank`` run.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from blurlib.inference.rank import PhotoRecord, finish
from blurlib.inference.rank_prep import NO_EVIDENCE
from blurlib.viz.html_report import write_report

ROOT = Path(__file__).resolve().parents[1]


def _chromium() -> str | None:
    """A Chromium executable, or None (then Playwright's own browser is tried)."""
    env = os.environ.get("BLURLIB_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium page factory; skip (fail under CI) when none can start."""
    why = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = "playwright is not installed (pip install -r requirements.txt)"
    if why is None:
        pw = sync_playwright().start()
        try:
            exe = _chromium()
            b = pw.chromium.launch(
                executable_path=exe, args=["--no-sandbox"] if exe else [], headless=True
            )
        except Exception as exc:  # no browser here
            pw.stop()
            why = f"no Chromium could start ({type(exc).__name__}); apt-get install chromium"
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {why}")
        pytest.skip(why)
    yield b
    b.close()
    pw.stop()


def _report(folder: Path) -> tuple[Path, list[PhotoRecord]]:
    """A report over synthetic records with real preview files: 9 photos, a burst of three,
    one unreadable file."""
    import cv2

    previews = folder / "previews"
    previews.mkdir(parents=True)
    rng = np.random.default_rng(0)
    records = []
    shares = [0.91, 0.12, 0.55, 0.33, 0.02, 0.78, 0.47, float("nan")]
    for i, share in enumerate(shares):
        thumb = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        cv2.imwrite(str(previews / f"p{i}.jpg"), thumb)
        cells = np.full((15, 20), round(254 * (0 if math.isnan(share) else share)), np.uint8)
        cells[:3] = NO_EVIDENCE
        cv2.imwrite(str(previews / f"p{i}.map.png"), cells)
        when = 1_700_000_000.0 + (i if i < 3 else 1000 * i)
        records.append(
            PhotoRecord(
                f"/shoot/{'abcdefgh'[i]}{i}.jpg", blurred_share=share, subject_blur=share,
                subject_mean=share, mean_blur=share, largest_region=share / 2,
                capture_time=when, dhash=f"{i:016x}", thumb=f"p{i}.jpg", blur_map=f"p{i}.map.png",
            )
        )  # fmt: skip
    records.append(PhotoRecord("/shoot/zz.jpg", error="zz.jpg is not an image"))
    finish(records, bursts="time")
    records.sort(key=lambda r: (bool(r.error), -(r.blurred_share if r.blurred_share >= 0 else -1)))
    return write_report(records, folder, previews, settings="test"), records


def _column(page, key: str) -> list[str]:
    return page.locator(f"#ranking tbody tr td.c-{key}").evaluate_all(
        "tds => tds.map(td => td.dataset.v)"
    )


def test_report_renders_sorts_filters_in_chromium(browser, tmp_path):
    report, records = _report(tmp_path / "report")
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto(report.as_uri())
    rows = page.locator("#ranking tbody tr")
    assert rows.count() == len(records) == 9
    assert page.locator("#ranking tbody img").count() == 16  # thumbnail + overlay, 8 photos
    # The images load lazily, so the page's load event does not wait for them: wait until the
    # first row's two have decoded (a missing or broken file never does, and the wait fails).
    page.wait_for_function(
        """() => {
            const imgs = [...document.querySelectorAll('#ranking tbody tr:first-child img')];
            return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);
        }""",
        timeout=15_000,
    )
    assert page.locator("#bursts .burst").count() == 1
    assert page.locator("#bursts figure.keeper").count() == 1

    page.click('th[data-key="path"]')
    paths = _column(page, "path")
    assert paths == sorted(paths)
    assert page.get_attribute('th[data-key="path"]', "aria-sort") == "ascending"
    page.click('th[data-key="path"]')
    assert _column(page, "path") == sorted(paths, reverse=True)
    page.click('th[data-key="share"]')
    shares = [float(v) for v in _column(page, "share") if v]
    assert shares == sorted(shares) and _column(page, "share")[-1] == ""  # empty last

    page.select_option("#verdict", "blurred")
    visible = page.locator("#ranking tbody tr:not(.hidden)")
    assert visible.count() == sum(r.verdict == "blurred" for r in records)
    page.select_option("#verdict", "")
    page.fill("#filter", "c2")
    assert visible.count() == 1
    page.fill("#filter", "")
    page.check("#keepers")
    assert visible.count() == sum(r.best_in_burst for r in records)
    page.uncheck("#keepers")
    page.click("#group")
    bursts = _column(page, "burst")
    n = sum(1 for b in bursts if b)
    assert n == 3 and all(bursts[:n]) and _column(page, "best")[0] == "1"
    page.close()


def _shoot(folder: Path, names: tuple[str, ...]) -> Path:
    """Bundled photos and a motion-blurred copy of each, shot a second later (a burst each);
    one copy without a capture time (it joins its original by look)."""
    from PIL import Image

    from blurlib.data.convolve import apply_kernel
    from blurlib.data.kernels import linear_kernel
    from blurlib.data.samples import sample_images

    photos = dict(sample_images())
    folder.mkdir(parents=True)
    for k, name in enumerate(names):
        blurred = apply_kernel(photos[name], linear_kernel(11, 40.0 * k))
        for second, (suffix, img) in enumerate((("", photos[name]), ("_blur", blurred))):
            exif = Image.Exif()
            if not (second and k == 1):
                exif.get_ifd(0x8769)[0x9003] = f"2024:06:01 1{k}:00:0{second}"
            Image.fromarray(img).save(folder / f"{name}{suffix}.jpg", quality=95, exif=exif)
    return folder


def test_readme_screenshot(browser, tmp_path, capsys, monkeypatch):
    """The README's picture: with BLURLIB_FIGURES set, a real ``rank`` run over bundled photos
    and blurred copies, pictured into figures/rank_report.png; else the synthetic report,
    pictured into tmp_path (the screenshot machinery stays tested)."""
    if os.environ.get("BLURLIB_FIGURES"):
        from blurlib.cli import main

        monkeypatch.chdir(tmp_path)  # paths in the report as a user types them
        _shoot(tmp_path / "shoot", ("chelsea", "coffee", "astronaut", "coins"))
        assert main(["rank", "shoot", "--out", "report"]) == 0
        capsys.readouterr()
        report, target = tmp_path / "report" / "report.html", ROOT / "figures" / "rank_report.png"
    else:
        report, target = _report(tmp_path / "r")[0], tmp_path / "rank_report.png"
    page = browser.new_page(viewport={"width": 1100, "height": 620}, device_scale_factor=1)
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    page.click("#group")  # each burst together, its keeper (★) first
    page.wait_for_function(  # lazily loaded images in view decoded (the load event skips them)
        """() => [...document.images].filter(i => i.getBoundingClientRect().top < innerHeight)
                 .every(i => i.complete && i.naturalWidth > 0)""",
        timeout=15_000,
    )
    shot = tmp_path / "shot.png"
    page.screenshot(path=str(shot), type="png")
    page.close()
    from PIL import Image

    with Image.open(shot) as im:  # a 256-colour palette: the README's picture stays small
        im.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(target, optimize=True)
    assert 10_000 < target.stat().st_size < 200_000


@pytest.mark.slow
def test_real_rank_report_renders_in_chromium(browser, tmp_path, capsys):
    """The done-when's last point on a real run: bundled photos and blurred copies in bursts
    through ``python -m blurlib rank``; Chromium shows every row and its images, sorts, and
    each burst's keeper is the sharp original."""
    from blurlib.cli import main

    folder = _shoot(tmp_path / "shoot", ("coins", "chelsea"))
    out = tmp_path / "report"
    assert main(["rank", str(folder), "--out", str(out)]) == 0
    capsys.readouterr()
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto((out / "report.html").as_uri())
    assert page.locator("#ranking tbody tr").count() == 4
    loaded = page.locator("#ranking tbody img").evaluate_all(
        "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded == [True] * 8
    names = [Path(v).stem for v in _column(page, "path")]
    for name in ("coins", "chelsea"):
        assert names.index(f"{name}_blur") < names.index(name)
    page.click('th[data-key="share"]')
    shares = [float(v) for v in _column(page, "share")]
    assert shares == sorted(shares)
    keepers = page.locator("#bursts figure.keeper figcaption").all_inner_texts()
    assert sorted(k.split()[2] for k in keepers) == ["chelsea.jpg", "coins.jpg"]
    page.close()
