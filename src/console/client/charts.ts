/** Charts drawn with Chart.js, bundled into the page (nothing is fetched from the internet). */
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import { h } from './dom.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip, LineController, LineElement, PointElement);

const PALETTE = ['#1b5fc1', '#e07b00', '#1e7b34', '#b3261e', '#7a3fb8', '#00838f', '#8d6e00', '#c2185b', '#546e7a', '#5d4037', '#3949ab', '#9e9d24'];

export interface Series {
  readonly label: string;
  readonly values: readonly number[];
}

/** What the x axis shows: its title (it names the zone of times) and, per bar, the tooltip's title (a time with its UTC). */
export interface XAxis {
  readonly title: string;
  readonly tooltips?: readonly string[];
}

/** A stacked bar chart in a box; `description` is what a screen reader hears. */
export function barChart(labels: readonly string[], series: readonly Series[], description: string, x: XAxis, stacked = true): HTMLElement {
  const canvas = h('canvas', { role: 'img', 'aria-label': `${description}; ${x.title}` });
  const box = h('div', { class: 'chart', 'data-x-axis': x.title }, canvas);
  // Chart.js measures its parent, so draw once the box is in the page.
  requestAnimationFrame(() => {
    new Chart(canvas, {
      type: 'bar',
      data: { labels: [...labels], datasets: series.map((s, i) => ({ label: s.label, data: [...s.values], backgroundColor: PALETTE[i % PALETTE.length] })) },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { stacked, title: { display: true, text: x.title }, ticks: { maxRotation: 0, autoSkipPadding: 12 } }, y: { stacked, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: { callbacks: { title: (items) => (x.tooltips && items[0] ? x.tooltips[items[0].dataIndex] ?? '' : items[0]?.label ?? '') } },
        },
      },
    });
  });
  return box;
}
