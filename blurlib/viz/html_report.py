"""``report.html``: a ranking a photographer can look through in any browser, offline.

One HTML file with its style and script inline (no network, no library): a summary, the
ranking table — a thumbnail and a blur overlay per photo, sortable by clicking any column
header (again to reverse), filterable by path text, verdict and keepers only, and "group
bursts" to put each burst's photos together, keeper first — and the bursts, each as a strip
of thumbnails with the keeper marked ★. Thumbnails and overlays are small JPEGs in the
previews folder beside it (``embed=True`` puts them inside the file as data URIs instead, for
a report that travels alone). Overlays are made here from the previews that
:func:`blurlib.inference.rank.rank_photos` writes: the photo tinted by P(blurred) in the
colours of ``predict``'s overlays where it carries evidence, untinted where it does not.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from blurlib.fileio import write_bytes, write_text

REPORT_NAME = "report.html"
_VERDICT_CLASS = {
    "blurred": "v-blurred",
    "sharp": "v-sharp",
    "no evidence": "v-none",
    "unreadable": "v-bad",
}


def overlay_preview(thumb_jpeg: bytes, map_png: bytes) -> bytes:
    """Return JPEG bytes: the thumbnail blended with its preview map (P(blurred) in the
    ``inferno`` colours, the photo untouched where the map says no evidence)."""
    import cv2

    from blurlib.inference.rank_prep import NO_EVIDENCE
    from blurlib.viz.maps import overlay_blur_map

    thumb = cv2.imdecode(np.frombuffer(thumb_jpeg, np.uint8), cv2.IMREAD_COLOR)
    cells = cv2.imdecode(np.frombuffer(map_png, np.uint8), cv2.IMREAD_UNCHANGED)
    if thumb is None or cells is None:
        raise ValueError("unreadable preview files")
    rgb = cv2.cvtColor(thumb, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    up = cv2.resize(cells, (w, h), interpolation=cv2.INTER_NEAREST)
    values = np.where(up == NO_EVIDENCE, np.nan, up.astype(np.float32) / 254.0)
    picture = overlay_blur_map(rgb, values, alpha=0.55)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80]
    )
    if not ok:  # pragma: no cover
        raise ValueError("could not encode the overlay")
    return data.tobytes()


def _pct(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.6f}" if isinstance(x, float) else str(x)


def _when(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


class _Images:
    """Image sources for the report: relative paths, or data URIs when embedding."""

    def __init__(self, out_dir: Path, previews: Path, embed: bool) -> None:
        self.out_dir, self.previews, self.embed = out_dir, previews, embed

    def src(self, name: str) -> str:
        path = self.previews / name
        if self.embed:
            return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
        return Path(os.path.relpath(path, self.out_dir)).as_posix()

    def overlay(self, rec: Any) -> str:
        """The overlay's name (made once per preview, reused by later reports)."""
        name = rec.thumb.rsplit(".", 1)[0] + ".overlay.jpg"
        target = self.previews / name
        if not target.is_file():
            data = overlay_preview(
                (self.previews / rec.thumb).read_bytes(),
                (self.previews / rec.blur_map).read_bytes(),
            )
            write_bytes(target, data)
        return name


def _kinds_text(rec: Any) -> str:
    parts = [
        f"{name} {_pct(getattr(rec, f'share_{name}'))}"
        for name in ("sharp", "motion", "defocus")
        if not math.isnan(getattr(rec, f"share_{name}"))
    ]
    return " · ".join(parts)


def _row(rank: int, rec: Any, images: _Images, kinds: bool = False) -> str:
    e = html.escape
    ok = not rec.error and rec.thumb
    imgs = ("", "")
    if ok:
        try:
            over = images.overlay(rec)
            imgs = (
                f'<img loading="lazy" alt="photo" src="{e(images.src(rec.thumb))}">',
                f'<img loading="lazy" alt="blur overlay" src="{e(images.src(over))}">',
            )
        except (OSError, ValueError):
            imgs = ("(preview missing)", "")
    star = "★" if rec.best_in_burst and rec.burst else ""
    keep = "1" if rec.best_in_burst else "0"
    share = rec.blurred_share
    bar = (
        ""
        if share is None or math.isnan(share)
        else f'<div class="bar"><span style="width:{100 * share:.1f}%"></span></div>'
    )
    path_cell = e(rec.path) + (f'<div class="err">{e(rec.error)}</div>' if rec.error else "")
    cells = [
        ("rank", str(rank), str(rank)),
        ("thumb", "", imgs[0]),
        ("overlay", "", imgs[1]),
        ("path", e(rec.path), path_cell),
        ("share", _num(share), _pct(share) + bar),
        (
            "verdict",
            e(rec.verdict),
            f'<span class="{_VERDICT_CLASS[rec.verdict]}">{e(rec.verdict)}</span>',
        ),
        ("region", _num(rec.largest_region), _pct(rec.largest_region)),
        ("subject", _num(rec.subject_blur), _pct(rec.subject_blur)),
        ("burst", e(rec.burst), e(rec.burst)),
        ("best", keep if rec.burst else "", star),
        ("time", _num(rec.capture_time), _when(rec.capture_time)),
    ]
    if kinds:  # a model with blur-kind heads: the share of each kind, sortable by motion
        cells.insert(6, ("kinds", _num(rec.share_motion), e(_kinds_text(rec))))
    tds = "".join(f'<td class="c-{k}" data-v="{v}">{h}</td>' for k, v, h in cells)
    return (
        f'<tr data-verdict="{e(rec.verdict)}" data-keeper="{keep}" data-burst="{e(rec.burst)}"'
        f' data-path="{e(rec.path.lower())}">{tds}</tr>'
    )


def _bursts_section(records: Sequence[Any], images: _Images) -> str:
    e = html.escape
    groups: dict[str, list[Any]] = {}
    for r in records:
        if r.burst:
            groups.setdefault(r.burst, []).append(r)
    if not groups:
        return '<p class="note">No bursts: every photo stands alone.</p>'
    parts = []
    for name in sorted(groups):
        members = sorted(groups[name], key=lambda r: (not r.best_in_burst, r.path))
        figs = []
        for r in members:
            img = ""
            try:
                if r.thumb:
                    img = f'<img loading="lazy" alt="" src="{e(images.src(r.thumb))}">'
            except OSError:  # its preview went missing: the caption still names it
                pass
            mark = '<b class="star">★ keeper</b> ' if r.best_in_burst else ""
            cls = "keeper" if r.best_in_burst else ""
            figs.append(
                f'<figure class="{cls}">{img}<figcaption>{mark}{e(Path(r.path).name)}<br>'
                f"{_pct(r.subject_blur)} subject blur</figcaption></figure>"
            )
        parts.append(
            f'<div class="burst" data-burst="{e(name)}"><h3>{e(name)}</h3>{"".join(figs)}</div>'
        )
    return "".join(parts)


_TEXT = ("path", "verdict", "burst")
_HEADERS = (
    ("rank", "#", "rank by blurred share"),
    ("thumb", "photo", ""),
    ("overlay", "blur overlay", "P(blurred) where the photo carries evidence"),
    ("path", "path", ""),
    ("share", "blurred share", "share of the judgeable (textured) area called motion-blurred"),
    ("verdict", "verdict", ""),
    ("kinds", "blur kinds", "judgeable windows by most likely kind (sorts by motion)"),
    ("region", "largest region", "largest connected blurred region, share of the photo"),
    ("subject", "subject blur", "blurred share of the centre-weighted judgeable area"),
    ("burst", "burst", "near-duplicate shots"),
    ("best", "keeper", "least subject blur in its burst"),
    ("time", "captured", "EXIF DateTimeOriginal"),
)


def write_report(
    records: Sequence[Any],
    out_dir: str | os.PathLike[str],
    previews_dir: str | os.PathLike[str],
    *,
    embed: bool = False,
    settings: str = "",
) -> Path:
    """Write ``report.html`` for ranking records (in ranking order) into ``out_dir`` and
    return its path; previews are read from (and overlays written to) ``previews_dir``."""
    out_dir = Path(out_dir)
    images = _Images(out_dir, Path(previews_dir), embed)
    e = html.escape
    counts = {v: sum(r.verdict == v for r in records) for v in _VERDICT_CLASS}
    n_bursts = len({r.burst for r in records if r.burst})
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    kinds = any(not math.isnan(getattr(r, "share_motion", math.nan)) for r in records)
    heads = "".join(
        f'<th data-key="{k}" data-type="{"text" if k in _TEXT else "num"}" title="{e(tip)}"'
        f' tabindex="0">{e(label)}</th>'
        if k not in ("thumb", "overlay")
        else f"<th>{e(label)}</th>"
        for k, label, tip in _HEADERS
        if kinds or k != "kinds"
    )
    rows = "\n".join(_row(i, r, images, kinds) for i, r in enumerate(records, 1))
    page = _PAGE.format(
        title="blurlib rank report",
        summary=e(f"{len(records)} photos: {summary}; {n_bursts} bursts"),
        settings=e(settings),
        bursts=_bursts_section(records, images),
        heads=heads,
        rows=rows,
        style=_STYLE,
        script=_SCRIPT,
    )
    return write_text(out_dir / REPORT_NAME, page)


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.2em 0 .4em}
.note{color:#666}.controls{margin:.6em 0;display:flex;gap:1em;flex-wrap:wrap;align-items:center}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:middle}
th[data-key]{cursor:pointer;user-select:none;background:#eee;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td img{max-width:160px;max-height:120px;display:block}
.c-path{word-break:break-all;max-width:24em}.err{color:#a00;font-size:.9em}
.bar{height:5px;background:#eee;width:6em}.bar span{display:block;height:5px;background:#c33}
.v-blurred{color:#b00;font-weight:600}.v-sharp{color:#070}.v-none{color:#777}.v-bad{color:#a60}
.c-best{color:#c80;font-size:1.2em}tr.hidden{display:none}
.burst{display:flex;gap:.5em;align-items:flex-start;margin:.4em 0;flex-wrap:wrap}
.burst h3{font-size:1em;width:4.5em;margin:0}
figure{margin:0;padding:3px;border:2px solid transparent;width:150px;font-size:.85em}
figure img{max-width:150px;max-height:110px;display:block}
figure.keeper{border-color:#c80}.star{color:#c80;margin-right:.3em}
"""

_SCRIPT = """
(function(){
  const table=document.getElementById('ranking'), body=table.tBodies[0];
  const heads=[...table.tHead.rows[0].cells];
  function cell(tr,key){return tr.querySelector('td.c-'+key).dataset.v;}
  function cmp(a,b,num){
    if(a===''&&b==='')return 0; if(a==='')return 1; if(b==='')return -1;
    return num?parseFloat(a)-parseFloat(b):a.localeCompare(b);
  }
  const byRank=(r,s)=>cmp(cell(r,'rank'),cell(s,'rank'),true);
  function sortBy(key,dir){
    const num=table.querySelector('th[data-key="'+key+'"]').dataset.type==='num';
    const rows=[...body.rows];
    rows.sort((r,s)=>{const a=cell(r,key),b=cell(s,key);
      if(a===''||b==='')return cmp(a,b,num); return dir*cmp(a,b,num)||byRank(r,s);});
    rows.forEach(r=>body.appendChild(r));
    heads.forEach(h=>h.removeAttribute('aria-sort'));
    const th=table.querySelector('th[data-key="'+key+'"]');
    if(th)th.setAttribute('aria-sort',dir>0?'ascending':'descending');
  }
  heads.forEach(th=>{ if(!th.dataset.key)return;
    const go=()=>{const now=th.getAttribute('aria-sort');
      sortBy(th.dataset.key, now==='ascending'?-1:1);};
    th.addEventListener('click',go);
    th.addEventListener('keydown',ev=>{if(ev.key==='Enter')go();});
  });
  document.getElementById('group').addEventListener('click',()=>{
    const rows=[...body.rows];
    rows.sort((r,s)=>{const a=r.dataset.burst,b=s.dataset.burst;
      if(a!==b){if(!a)return 1;if(!b)return -1;return a.localeCompare(b);}
      return (s.dataset.keeper-r.dataset.keeper)||byRank(r,s);});
    rows.forEach(r=>body.appendChild(r));
    heads.forEach(h=>h.removeAttribute('aria-sort'));
  });
  const text=document.getElementById('filter'), verdict=document.getElementById('verdict'),
        keep=document.getElementById('keepers'), shown=document.getElementById('shown');
  function filter(){
    const q=text.value.trim().toLowerCase(); let n=0;
    for(const tr of body.rows){
      const ok=(!q||tr.dataset.path.includes(q))
        &&(!verdict.value||tr.dataset.verdict===verdict.value)
        &&(!keep.checked||tr.dataset.keeper==='1');
      tr.classList.toggle('hidden',!ok); if(ok)n++;
    }
    shown.textContent=n+' of '+body.rows.length+' shown';
  }
  [text,verdict,keep].forEach(el=>el.addEventListener('input',filter));
  filter();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head>
<body>
<h1>{title}</h1>
<p>{summary}</p><p class="note">{settings}</p>
<h2>Ranking, most blurred first</h2>
<div class="controls">
<label>path contains <input id="filter" type="search" placeholder="text"></label>
<label>verdict <select id="verdict"><option value="">any</option><option>blurred</option>
<option>sharp</option><option>no evidence</option><option>unreadable</option></select></label>
<label><input id="keepers" type="checkbox"> keepers only</label>
<button id="group" type="button">group bursts</button>
<span id="shown" class="note"></span>
</div>
<table id="ranking"><thead><tr>{heads}</tr></thead>
<tbody>
{rows}
</tbody></table>
<h2>Bursts, keeper first</h2>
<section id="bursts">{bursts}</section>
<script>{script}</script>
</body></html>
"""
