"""Every table of measurements in README.md and docs/ is rendered from a results file the measuring tool wrote
(mmconvnext.analysis.results; tools/analysis/render_results.py): the rendered text equals the file's, each file
carries the command, CPU, threads, versions, date and commit, a table edited by hand fails the check, and the
tools that are quick enough here write such files."""

import glob
import json
import sys
from pathlib import Path

import pytest

from mmconvnext.analysis.results import (
    BLOCK,
    REQUIRED_META,
    ResultsError,
    check_markdown,
    load_results,
    render_markdown,
    results_meta,
    table_results,
)

from .conftest import ROOT, run_tool, run_tool_failing, tool_env

MARKDOWN = [ROOT / 'README.md'] + sorted((ROOT / 'docs').rglob('*.md'))
RESULTS = sorted((ROOT / 'docs' / 'results').rglob('*.json'))


@pytest.mark.parametrize('path', MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_rendered_table_equals_its_results_file(path):
    assert check_markdown(str(path), str(ROOT)) == [], (
        f'{path}: a table differs from its results file; run python tools/analysis/render_results.py'
    )


def test_the_render_check_runs_over_readme_and_docs():
    log = run_tool([sys.executable, 'tools/analysis/render_results.py', '--check'], tool_env())
    assert 'every results table matches its file' in log
    blocks = sum(len(BLOCK.findall(p.read_text())) for p in MARKDOWN)
    assert blocks >= 30, blocks  # the README's and the guides' tables are blocks, not typed text


@pytest.mark.parametrize('path', RESULTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_results_file_carries_its_provenance(path):
    results = load_results(str(path))
    meta = results['meta']
    for key in REQUIRED_META:
        assert meta[key] not in (None, ''), key
    assert meta['versions'].get('torch'), meta['versions']
    assert len(meta['date']) == 10 and meta['date'][4] == '-', meta['date']


def test_every_results_file_is_shown_somewhere():
    shown = set()
    for path in MARKDOWN:
        for match in BLOCK.finditer(path.read_text()):
            for word in match['spec'].split():
                if not word.startswith('view='):
                    shown.update(Path(p).resolve() for p in glob.glob(str(ROOT / word)))
    assert [str(p.relative_to(ROOT)) for p in RESULTS if p.resolve() not in shown] == []


@pytest.fixture
def rendered(tmp_path):
    """A results file and a markdown file with its table rendered, in a scratch repository root."""
    meta = results_meta('python tools/x.py --fast')
    table_results(str(tmp_path / 'r.json'), meta, ['model', 'img/s'], [['ConvNeXt-T', '19.76']])
    doc = tmp_path / 'doc.md'
    doc.write_text(render_markdown('Intro.\n\n<!-- results r.json -->\n<!-- /results -->\n\nEnd.\n', str(tmp_path)))
    return tmp_path, doc


def test_a_rendered_table_carries_the_machine_and_the_command(rendered):
    root, doc = rendered
    text = doc.read_text()
    assert '| ConvNeXt-T | 19.76 |' in text and '`python tools/x.py --fast`' in text
    meta = json.loads((root / 'r.json').read_text())['meta']
    assert meta['cpu'] in text and f'{meta["threads"]} threads' in text and meta['date'] in text
    assert check_markdown(str(doc), str(root)) == []


def test_a_table_edited_by_hand_fails_the_check(rendered):
    root, doc = rendered
    doc.write_text(doc.read_text().replace('19.76', '21.00'))
    assert check_markdown(str(doc), str(root)) == ['r.json']
    log = run_tool_failing(
        [sys.executable, 'tools/analysis/render_results.py', '--check', str(doc), '--root', str(root)], tool_env()
    )
    assert f'{doc}: r.json' in log and 'differ from their results files' in log
    # rendering puts the file's figure back
    run_tool([sys.executable, 'tools/analysis/render_results.py', str(doc), '--root', str(root)], tool_env())
    assert '19.76' in doc.read_text() and check_markdown(str(doc), str(root)) == []


def test_a_results_file_changed_without_rendering_fails_the_check(rendered):
    root, doc = rendered
    results = json.loads((root / 'r.json').read_text())
    results['rows'][0][1] = '20.10'
    (root / 'r.json').write_text(json.dumps(results))
    assert check_markdown(str(doc), str(root)) == ['r.json']


def test_bad_blocks_and_files_are_named(tmp_path):
    doc = tmp_path / 'doc.md'
    doc.write_text('<!-- results missing.json -->\n<!-- /results -->\n')
    with pytest.raises(ResultsError, match='missing.json.*matches no file'):
        check_markdown(str(doc), str(tmp_path))
    (tmp_path / 'bare.json').write_text(json.dumps({'kind': 'table', 'meta': {'command': 'x'}}))
    with pytest.raises(ResultsError, match=r'bare.json: meta lacks \[.cpu.'):
        load_results(str(tmp_path / 'bare.json'))
    doc.write_text('<!-- results bare.json -->\nno closing line\n')
    assert any('unbalanced' in s for s in check_markdown(str(doc), str(tmp_path)))


def test_get_flops_writes_a_results_file_the_configs_table_renders(tmp_path):
    out = tmp_path / 'flops.json'
    config = 'configs/upernet_convnext_tiny_ade20k.py'
    run_tool(
        [sys.executable, 'tools/analysis/get_flops.py', config, '--params-only', '--results', str(out)], tool_env()
    )
    results = load_results(str(out))
    assert results['kind'] == 'flops' and results['configs'][0]['config'] == config
    assert abs(results['configs'][0]['params'] / 60e6 - 1) < 0.015  # the paper's 60M (docs/references.md §6)
    (tmp_path / 'doc.md').write_text(f'<!-- results {out.name} view=zoo -->\n<!-- /results -->\n')
    text = render_markdown((tmp_path / 'doc.md').read_text(), str(tmp_path))
    assert 'ConvNeXt paper, Table 4' in text and '46.0 / 46.7 mIoU' in text  # configs/metafile.yml's entry


def test_speed_writes_a_results_file(tmp_path):
    pytest.importorskip('onnxruntime', reason='the deployment extra (pip install -e .[deploy]) is not installed')
    out = tmp_path / 'speed.json'
    run_tool(
        [sys.executable, 'tools/deployment/speed.py', 'configs/convnext_tiny_in1k.py', '--shape', '32', '32']
        + ['--rounds', '1', '--repeats', '1', '--threads', '1', '--results', str(out)]
        + ['--cfg-options', 'model.backbone.arch=atto', 'model.num_classes=10'],
        tool_env(),
        timeout=300,
    )
    results = load_results(str(out))
    assert results['columns'][:2] == ['model, input (img/s)', 'pytorch'] and 'onnxruntime' in results['columns']
    assert results['rows'][0][0] == '`convnext_tiny_in1k`, batch 1, 32x32' and results['meta']['threads'] == 1
