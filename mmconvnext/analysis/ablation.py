"""The design-choice ablation's table and plot (``tools/analysis/ablate.py``): the spread of a variant's top-1
over seeds, its difference from the baseline with the standard error, the table (caption, columns, cells;
:func:`markdown`) and the figure."""

import statistics

from mmconvnext.analysis.results import markdown_table

__all__ = ['ABLATION_COLUMNS', 'markdown', 'plot', 'spread', 'table', 'versus_baseline']


def spread(values: list) -> dict:
    """Mean, sample standard deviation and the runs of ``values``."""
    return dict(
        mean=statistics.mean(values),
        std=statistics.stdev(values) if len(values) > 1 else 0.0,
        runs=values,
    )


def versus_baseline(rows: list[dict], baseline: str = 'convnext') -> dict:
    """Per variant: its mean top-1 minus the baseline's, and the standard error of that
    difference (Welch: sqrt(s1^2/n1 + s2^2/n2)), when both were trained on 2+ seeds."""
    base = next((r['top1'] for r in rows if r['variant'] == baseline and r.get('top1')), None)
    if base is None or len(base['runs']) < 2:
        return {}
    out = {}
    for r in rows:
        acc = r.get('top1')
        if r['variant'] != baseline and acc and len(acc['runs']) > 1:
            se = (acc['std'] ** 2 / len(acc['runs']) + base['std'] ** 2 / len(base['runs'])) ** 0.5
            out[r['variant']] = dict(diff=acc['mean'] - base['mean'], se=se)
    return out


ABLATION_COLUMNS = [
    'variant',
    'params (M)',
    'GFLOPs',
    'batch-1 latency (ms)',
    'batch-8 img/s',
    'ERF 50% / 90% (px, untrained)',
    'ERF 50% / 90% (px, trained)',
    'top-1 % (mean ± std)',
    'vs convnext (± s.e.)',
    'runs',
    'final train loss',
]


def table(rows: list[dict], meta: dict) -> tuple[str, list[str], list[list[str]]]:
    """The ablation table: its caption (backbone, machine, schedule), columns and cells."""
    caption = (
        f'Backbone {meta["arch"]}; cost at {meta["bench_size"]}x{meta["bench_size"]} on {meta["cpu"]} '
        f'({meta["threads"]} threads); ERF of the last stage at {meta["erf_size"]}x{meta["erf_size"]}'
        + (
            f'; top-1 after {meta["epochs"]} epochs at {meta["img_size"]}x{meta["img_size"]} on '
            f'{meta["data"]}, seeds {meta["seeds"]}.'
            if meta['trained']
            else '.'
        )
    )
    deltas = versus_baseline(rows)
    cells = []
    for r in rows:
        u, t, acc = r['erf_untrained'], r.get('erf_trained'), r.get('top1')
        d, loss = deltas.get(r['variant']), r.get('final_train_loss')
        cells.append(
            [
                r['variant'],
                f'{r["params_m"]:.2f}',
                f'{r["gflops"]:.2f}',
                f'{r["latency_b1_ms"]:.1f}',
                f'{r["throughput_b8"]:.1f}',
                f'{u["area50_px"]} / {u["area90_px"]}',
                f'{t["area50_px"]:.0f} / {t["area90_px"]:.0f}' if t else '-',
                f'{acc["mean"]:.1f} ± {acc["std"]:.1f}' if acc else '-',
                f'{d["diff"]:+.1f} ± {d["se"]:.1f}' if d else '-',
                f'{[round(v, 1) for v in acc["runs"]]}' if acc else '-',
                f'{loss:.3f}' if loss is not None else '-',
            ]
        )
    return caption, ABLATION_COLUMNS, cells


def markdown(rows: list[dict], meta: dict) -> str:
    """:func:`table` as Markdown (``ablation.md``): the caption, then the table."""
    caption, columns, cells = table(rows, meta)
    return '\n'.join([caption, '', *markdown_table(columns, cells)]) + '\n'


def plot(rows: list[dict], out_file: str, title: str) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for r in rows:
        if r.get('top1'):
            ax1.errorbar(r['latency_b1_ms'], r['top1']['mean'], yerr=r['top1']['std'], fmt='o', capsize=4)
            ax1.annotate(
                r['variant'], (r['latency_b1_ms'], r['top1']['mean']), textcoords='offset points', xytext=(5, 5)
            )
    ax1.set(title='top-1 (mean ± std over seeds) vs batch-1 latency', xlabel='ms', ylabel='top-1 %')
    names = [r['variant'] for r in rows]
    key = 'erf_trained' if all(r.get('erf_trained') for r in rows) else 'erf_untrained'
    xs = range(len(rows))
    ax2.bar([x - 0.2 for x in xs], [r[key]['area50_px'] for r in rows], width=0.4, label='50% of the mass')
    ax2.bar([x + 0.2 for x in xs], [r[key]['area90_px'] for r in rows], width=0.4, label='90%')
    ax2.set_xticks(list(xs), names, rotation=20)
    ax2.set(title=f'last-stage ERF area ({key.split("_")[1]}), pixels', ylabel='pixels')
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
