// A small SVG line chart of downtime against container size, one line per method (log-scaled size axis).
export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

const COLORS = ['#1b7837', '#5aae61', '#c51b7d', '#e9a3c9', '#2166ac', '#b2182b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function lineChartSvg(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const W = 720,
    H = 420,
    L = 70,
    R = 220,
    T = 40,
    B = 50;
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  // Ticks at a round step (1, 2 or 5 times a power of ten), five or fewer.
  const top = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.y)));
  const magnitude = 10 ** Math.floor(Math.log10(top / 5));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((st) => st * 5 >= top)!;
  const ticks = Math.ceil(top / step);
  const yMax = step * ticks;
  const lx = (x: number) =>
    xs.length < 2
      ? L + (W - L - R) / 2
      : L + ((Math.log2(x) - Math.log2(xs[0]!)) / (Math.log2(xs[xs.length - 1]!) - Math.log2(xs[0]!))) * (W - L - R);
  const ly = (y: number) => H - B - (y / yMax) * (H - T - B);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="22" font-size="15">${esc(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${(T + H - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>`,
  ];
  for (const x of xs) out.push(`<text x="${lx(x)}" y="${H - B + 16}" text-anchor="middle">${x}</text>`);
  for (let i = 0; i <= ticks; i++) {
    const y = step * i;
    out.push(
      `<line x1="${L}" y1="${ly(y)}" x2="${W - R}" y2="${ly(y)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${ly(y) + 4}" text-anchor="end">${step >= 1 ? y.toFixed(0) : y.toFixed(1)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${lx(p.x)},${ly(p.y)}`).join(' ')}"/>`,
      ...pts.map((p) => `<circle cx="${lx(p.x)}" cy="${ly(p.y)}" r="3" fill="${color}"/>`),
      `<line x1="${W - R + 15}" y1="${T + 10 + i * 20}" x2="${W - R + 35}" y2="${T + 10 + i * 20}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${W - R + 40}" y="${T + 14 + i * 20}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
