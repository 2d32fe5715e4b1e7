// Draws bench results as an SVG: one block per scenario, a horizontal bar of req/s per app, the C program in grey.
const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderChart(results) {
  const scenarios = [...new Set(results.rows.map((row) => row.scenario))];
  const barHeight = 16;
  const gap = 4;
  const labelWidth = 190;
  const barWidth = 420;
  const width = labelWidth + barWidth + 130;
  const parts = [];
  let y = 30;
  for (const scenario of scenarios) {
    const rows = results.rows.filter((row) => row.scenario === scenario);
    const max = Math.max(...rows.map((row) => row.rps), 1);
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escape(scenario)}</text>`);
    y += 8;
    for (const row of rows) {
      const length = Math.max(1, Math.round((row.rps / max) * barWidth));
      const fill = row.app.startsWith('C ') ? '#888' : row.app.startsWith('libfcgi') ? '#2b6cb0' : '#d69e2e';
      parts.push(
        `<text x="${labelWidth - 6}" y="${y + barHeight - 4}" text-anchor="end">${escape(row.app)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${length}" height="${barHeight}" fill="${fill}"/>`,
        `<text x="${labelWidth + length + 6}" y="${y + barHeight - 4}">${row.rps.toLocaleString('en')} (${row.ratioToC}× C)</text>`,
      );
      y += barHeight + gap;
    }
    y += 22;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="16" font-size="14">Hello world, requests per second (median of ${results.rounds} rounds)</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
