import { fmtBucket } from '../format.ts';

export interface ChartPoint {
  t: number;
  v: number | null;
}

const W = 640;
const H = 200;
const PAD = { top: 14, right: 8, bottom: 26, left: 52 };

/** A round number at or above `max`, so the y axis reads 0 … 2,000 rather than 0 … 1,873. */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= max) return m * exp;
  return 10 * exp;
}

/**
 * A hand-drawn SVG time chart (bars or a line), sized by its viewBox so it scales to any width.
 * Every bar and point has a <title> (the browser's own tooltip) and a data-value for tests.
 */
export function TimeChart({
  title,
  points,
  kind,
  interval,
  locale,
  format,
  tone = 'primary',
  testId,
  emptyLabel,
  extra,
}: {
  title: string;
  points: ChartPoint[];
  kind: 'bar' | 'line';
  interval: 'hour' | 'day';
  locale: string;
  format: (v: number) => string;
  tone?: 'primary' | 'bad' | 'accent' | 'ok';
  testId?: string;
  emptyLabel: string;
  /** A second line drawn fainter behind the first (p95 behind the mean). */
  extra?: { label: string; points: ChartPoint[] };
}) {
  const values = points.map((p) => p.v ?? 0);
  const max = niceMax(Math.max(0, ...values, ...(extra?.points.map((p) => p.v ?? 0) ?? [])));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const n = Math.max(1, points.length);
  const slot = innerW / n;
  const x = (i: number) => PAD.left + slot * i + slot / 2;
  const y = (v: number) => PAD.top + innerH - (v / max) * innerH;
  const total = values.reduce((a, b) => a + b, 0);
  const labelEvery = Math.max(1, Math.ceil(n / 6));
  const hasData = points.some((p) => (p.v ?? 0) > 0);

  const polyline = (pts: ChartPoint[]) =>
    pts
      .map((p, i) => (p.v === null ? null : `${x(i).toFixed(1)},${y(p.v).toFixed(1)}`))
      .filter(Boolean)
      .join(' ');
  const line = kind === 'line' ? polyline(points) : '';
  const line2 = kind === 'line' && extra ? polyline(extra.points) : '';

  return (
    <figure className={`chart chart-${tone}`} data-testid={testId} data-total={total} data-points={points.length}>
      <figcaption>
        {title}
        {extra ? <span className="legend"> — {extra.label}</span> : null}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} preserveAspectRatio="xMidYMid meet">
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line className="grid" x1={PAD.left} x2={W - PAD.right} y1={y(max * f)} y2={y(max * f)} />
            <text className="axis" x={PAD.left - 6} y={y(max * f) + 4} textAnchor="end">
              {format(max * f)}
            </text>
          </g>
        ))}
        {kind === 'bar'
          ? points.map((p, i) => {
              const v = p.v ?? 0;
              const h = (v / max) * innerH;
              return (
                <rect key={p.t} className="bar" x={x(i) - Math.max(1, slot * 0.35)} width={Math.max(2, slot * 0.7)} y={PAD.top + innerH - h} height={Math.max(0, h)} data-value={v}>
                  <title>{`${fmtBucket(p.t, interval, locale)}: ${format(v)}`}</title>
                </rect>
              );
            })
          : null}
        {line2 ? (
          <polyline className="line line-extra" points={line2}>
            <title>{extra?.label}</title>
          </polyline>
        ) : null}
        {kind === 'line' && line ? <polyline className="line" points={line} /> : null}
        {kind === 'line'
          ? points.map((p, i) =>
              p.v === null ? null : (
                <circle key={p.t} className="dot" cx={x(i)} cy={y(p.v)} r={points.length > 60 ? 1.5 : 3} data-value={p.v}>
                  <title>{`${fmtBucket(p.t, interval, locale)}: ${format(p.v)}`}</title>
                </circle>
              ),
            )
          : null}
        {points.map((p, i) =>
          i % labelEvery === 0 ? (
            <text key={p.t} className="axis" x={x(i)} y={H - 8} textAnchor="middle">
              {fmtBucket(p.t, interval, locale)}
            </text>
          ) : null,
        )}
        {!hasData ? (
          <text className="axis chart-empty" x={PAD.left + innerW / 2} y={PAD.top + innerH / 2} textAnchor="middle">
            {emptyLabel}
          </text>
        ) : null}
      </svg>
    </figure>
  );
}
