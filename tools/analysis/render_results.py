"""Render the tables of README.md and docs/ from the results files the measuring tools wrote.

    python tools/analysis/render_results.py [--check] [MARKDOWN ...]

Rewrites every block between ``<!-- results FILE ... -->`` and ``<!-- /results -->`` of the given markdown files
(default: README.md and docs/**/*.md) from its results files (:mod:`mmconvnext.analysis.results`). ``--check``
changes nothing and exits 1 naming every block whose text differs from its files: a table edited by hand, or a
results file re-measured without rendering. The test suite runs the check.
"""

import argparse
import glob
import os.path as osp
import sys

from mmconvnext.analysis.results import ResultsError, check_markdown, render_markdown

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def default_files(root: str) -> list[str]:
    return [osp.join(root, 'README.md')] + sorted(glob.glob(osp.join(root, 'docs', '**', '*.md'), recursive=True))


def main() -> None:
    parser = argparse.ArgumentParser(description='Render the results tables of README.md and docs/')
    parser.add_argument('files', nargs='*', help='markdown files (default: README.md and docs/**/*.md)')
    parser.add_argument('--check', action='store_true', help='change nothing; exit 1 if any table differs')
    parser.add_argument('--root', default=ROOT, help='where the results paths of the blocks are relative to')
    args = parser.parse_args()
    files = args.files or default_files(args.root)
    stale = []
    try:
        for path in files:
            if args.check:
                stale += [f'{path}: {spec}' for spec in check_markdown(path, args.root)]
                continue
            with open(path, encoding='utf-8') as f:
                text = f.read()
            new = render_markdown(text, args.root, path)
            if new != text:
                with open(path, 'w', encoding='utf-8') as f:
                    f.write(new)
                print(f'rendered {path}')
    except ResultsError as e:
        sys.exit(f'render_results: {e}')
    if stale:
        print(
            'tables that differ from their results files (run python tools/analysis/render_results.py):',
            file=sys.stderr,
        )
        print('\n'.join(f'  {s}' for s in stale), file=sys.stderr)
        sys.exit(1)
    if args.check:
        print(f'{len(files)} files: every results table matches its file')


if __name__ == '__main__':
    main()
