"""Results files, and the tables README.md and docs/ render from them.

Every tool that measures (benchmark, speed, get_flops, demo, ablate, roadmap, fcmae_proxy, gpu_check,
learning_guard) takes ``--results FILE`` and writes its numbers there through :func:`save_results`, together with
:func:`results_meta`: the command, the CPU (model name and the instruction-set extensions that decide kernel
speed), threads, library versions, date and commit. The project keeps the files it publishes under
``docs/results/``.

A markdown file shows a results file's table between two comment lines::

    <!-- results docs/results/speed_cls_xeon.json -->
    ... generated ...
    <!-- /results -->

The opening line names one or more files (globs allowed, relative to the repository root) and optionally
``view=NAME``; ``tools/analysis/render_results.py`` rewrites every such block from its files, and with
``--check`` (which the test suite runs) fails on any block that differs, so no figure is typed by hand or
goes stale unseen.

A results file is ``{"kind": ..., "meta": {...}, ...}``. Kind ``table`` (what most tools write) holds
``columns`` and ``rows`` (cells as the tool formatted them) beside its raw numbers; other kinds name their
renderer in :data:`RENDERERS`. Figures measured before the tools wrote results files were transcribed from
the project's records into files of their own, one per CPU, with ``meta.provenance`` saying so; their caption
says "transcribed".
"""

import datetime
import glob
import importlib
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Optional

__all__ = [
    'REQUIRED_META',
    'ResultsError',
    'check_markdown',
    'load_results',
    'render_markdown',
    'render_results',
    'results_meta',
    'save_results',
    'table_from_markdown',
    'table_results',
    'tool_command',
]

#: what every results file's ``meta`` holds
REQUIRED_META = ('command', 'cpu', 'threads', 'versions', 'date', 'commit')

#: the libraries whose versions a results file records, where installed
LIBRARIES = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation', 'onnxruntime', 'openvino', 'timm', 'mmpretrain')

#: kind -> 'module:function' rendering a list of results of that kind (imported only when a block needs it)
RENDERERS = {
    'table': 'mmconvnext.analysis.results:render_tables',
    'learning_guard': 'mmconvnext.analysis.learning_guard:render_results',
    'flops': 'mmconvnext.analysis.complexity:render_flops',
}

#: a caption shows at most this much of a command (the results file holds all of it)
COMMAND_CHARS = 300

BLOCK = re.compile(r'^<!-- results (?P<spec>[^\n]*?) -->\n(?P<body>.*?)^<!-- /results -->', re.S | re.M)


class ResultsError(ValueError):
    """A results file or a results block that cannot be read or rendered; the message names the file."""


def _library_versions() -> dict:
    from importlib import metadata

    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _commit(root: str) -> str:
    try:
        out = subprocess.run(
            ['git', '-C', root, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ['git', '-C', root, 'status', '--porcelain', '--untracked-files=no'], capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'
    return out + ('+changes' if dirty else '')


def tool_command(script: str, argv: Optional[Sequence[str]] = None) -> str:
    """The command line a tool was run with, as a user would type it from the repository root."""
    return f'python {script} ' + shlex.join(sys.argv[1:] if argv is None else list(argv))


def results_meta(command: str, threads: Optional[int] = None) -> dict:
    """What a results file records beside its numbers: the command, the CPU (model name and speed-relevant
    instruction-set extensions), threads, library versions, the CPU path the backbones were asked for, the date
    and the commit (``+changes`` when the work tree differed from it)."""
    import torch

    from mmconvnext.device import cpu_features, cpu_name

    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    return dict(
        command=command,
        cpu=cpu_name(),
        cpu_features=cpu_features(),
        threads=torch.get_num_threads() if threads is None else threads,
        versions=_library_versions(),
        compute_path=os.environ.get('MMCONVNEXT_CPU_PATH', 'auto'),  # the backbones' CPU kernels, forced or chosen
        date=datetime.date.today().isoformat(),
        commit=_commit(root),
    )


def save_results(path: str, kind: str, meta: dict, **payload) -> dict:
    """Write a results file (atomically: a kill mid-write leaves the previous file) and return its contents."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ResultsError(f'{path}: results meta lacks {missing}')
    results = dict(kind=kind, meta=meta, **payload)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(results, f, indent=1)
        f.write('\n')
    os.replace(tmp, path)
    print(f'results: {path}')
    return results


def _table(path: str, columns: Sequence[str], rows: Sequence[Sequence], notes: Sequence[str] = ()) -> dict:
    rows = [[str(c) for c in row] for row in rows]
    bad = [r for r in rows if len(r) != len(columns)]
    if bad:
        raise ResultsError(f'{path}: rows of {len(bad[0])} cells for {len(columns)} columns: {bad[0]}')
    return dict(columns=list(columns), rows=rows, notes=list(notes))


def table_results(
    path: str,
    meta: dict,
    columns: Sequence[str],
    rows: Sequence[Sequence],
    notes: Sequence[str] = (),
    tables: Optional[dict] = None,
    **data,
) -> dict:
    """Save a kind ``table`` results file: ``columns``, ``rows`` (cells formatted as the table shows them),
    ``notes`` (lines shown under the table), further ``tables`` ({name: (columns, rows[, notes])}) and any raw
    numbers as further keys."""
    extra = {name: _table(path, *t) for name, t in (tables or {}).items()}
    return save_results(path, 'table', meta, **_table(path, columns, rows, notes), tables=extra, **data)


def table_from_markdown(text: str) -> tuple[list[str], list[list[str]], list[str]]:
    """``(columns, rows, notes)`` of the first markdown table in ``text`` (a tool's printed table); the other
    non-empty lines are the notes."""

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip('|').split('|')]

    table, notes = [], []
    for line in text.splitlines():
        if line.lstrip().startswith('|'):
            table.append(line)
        elif line.strip():
            notes.append(line.strip())
    if len(table) < 2:
        raise ResultsError(f'no markdown table in {text[:200]!r}')
    return cells(table[0]), [cells(line) for line in table[2:]], notes


def load_results(path: str) -> dict:
    """Read and check a results file: a clear error naming the file and what is missing."""
    try:
        with open(path, encoding='utf-8') as f:
            results = json.load(f)
    except FileNotFoundError:
        raise ResultsError(f'{path}: no such results file') from None
    except json.JSONDecodeError as e:
        raise ResultsError(f'{path}: not JSON ({e})') from None
    if not isinstance(results, dict) or 'kind' not in results or 'meta' not in results:
        raise ResultsError(f'{path}: a results file is an object with "kind" and "meta"')
    missing = [k for k in REQUIRED_META if k not in results['meta']]
    if missing:
        raise ResultsError(f'{path}: meta lacks {missing}')
    if results['kind'] not in RENDERERS:
        raise ResultsError(f'{path}: unknown kind {results["kind"]!r} (known: {sorted(RENDERERS)})')
    return results


def caption(meta: dict) -> str:
    """One line naming where and how a results file's numbers were measured."""
    versions = meta['versions']
    torch_version = versions.get('torch', '?')
    cpu = meta['cpu']
    if meta.get('cpu_features'):
        cpu += ' (' + ', '.join(meta['cpu_features']) + ')'
    if meta.get('gpu'):
        cpu = f'{meta["gpu"]} with {cpu}'
    text = f'{cpu}, {meta["threads"]} threads, torch {torch_version}, {meta["date"]}, commit {meta["commit"]}'
    if meta.get('provenance'):
        text += f'; transcribed: {meta["provenance"]}'
    command = meta['command']
    if len(command) > COMMAND_CHARS:  # e.g. get_flops over every config: the file holds it whole
        command = command[:COMMAND_CHARS].rsplit(' ', 1)[0] + ' ...'
    return f'{text}: `{command}`'


def captions(results: Sequence[dict]) -> list[str]:
    lines = [caption(r['meta']) for r in results]
    unique = list(dict.fromkeys(lines))
    return [f'<sub>{line}</sub>' for line in unique] if len(unique) == 1 else [f'- <sub>{x}</sub>' for x in unique]


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    return lines + ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]


def render_tables(results: Sequence[dict], view: Optional[str] = None) -> str:
    """Kind ``table``: the files' rows under their shared columns, then one caption line per distinct
    measurement (CPU, threads, torch, date, commit, command). ``view=NAME`` takes each file's further table
    ``tables[NAME]`` (same layout) instead of its main one."""

    def table(r: dict) -> dict:
        if view is None:
            return r
        if view not in r.get('tables', {}):
            raise ResultsError(f'no table {view!r} in a results file of {r["meta"]["command"]!r}')
        return r['tables'][view]

    tables = [table(r) for r in results]
    columns = tables[0]['columns']
    for t in tables[1:]:
        if t['columns'] != columns:
            raise ResultsError(f'one table from files with different columns: {columns} and {t["columns"]}')
    rows = [row for t in tables for row in t['rows']]
    notes = [n for t in tables for n in t.get('notes', [])]
    return '\n'.join(markdown_table(columns, rows) + [''] + captions(results) + [''] * bool(notes) + notes) + '\n'


def _renderer(kind: str) -> Callable:
    module, _, name = RENDERERS[kind].partition(':')
    return getattr(importlib.import_module(module), name)


def render_results(paths: Sequence[str], view: Optional[str] = None) -> str:
    """The markdown that one block shows for these results files."""
    results = [load_results(p) for p in paths]
    kinds = {r['kind'] for r in results}
    if len(kinds) != 1:
        raise ResultsError(f'one block renders one kind, got {sorted(kinds)} from {list(paths)}')
    return _renderer(kinds.pop())(results, view)


def _block_paths(spec: str, root: str, where: str) -> tuple[list[str], Optional[str]]:
    words = spec.split()
    view = next((w.split('=', 1)[1] for w in words if w.startswith('view=')), None)
    paths = []
    for pattern in (w for w in words if not w.startswith('view=')):
        found = sorted(glob.glob(osp.join(root, pattern)))
        if not found:
            raise ResultsError(f'{where}: the results block names {pattern!r}, which matches no file')
        paths += found
    if not paths:
        raise ResultsError(f'{where}: a results block names no file')
    return paths, view


def render_markdown(text: str, root: str, where: str = 'markdown') -> str:
    """``text`` with every results block rewritten from its files."""

    def block(match: re.Match) -> str:
        paths, view = _block_paths(match['spec'], root, where)
        try:
            body = render_results(paths, view)
        except ResultsError as e:
            raise ResultsError(f'{where}: {e}') from None
        return f'<!-- results {match["spec"]} -->\n{body}<!-- /results -->'

    return BLOCK.sub(block, text)


def check_markdown(path: str, root: str) -> list[str]:
    """The specs of ``path``'s results blocks whose text differs from what their files render."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    stale = []
    for match in BLOCK.finditer(text):
        paths, view = _block_paths(match['spec'], root, path)
        if match['body'] != render_results(paths, view):
            stale.append(match['spec'])
    lines = text.splitlines()
    opened = sum(line.startswith('<!-- results ') for line in lines)
    closed = sum(line.startswith('<!-- /results -->') for line in lines)
    if opened != closed or opened != len(BLOCK.findall(text)):
        stale.append(f'unbalanced results markers ({opened} opening, {closed} closing)')
    return stale
