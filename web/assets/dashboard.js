// Leaders' dashboard charts (chart.js bundled; no CDN). Data come from the page
// as JSON in #dashboard-data; the numbers are also in the tables beside the charts.
import Chart from "chart.js/auto";

const source = document.getElementById("dashboard-data");
const data = source ? JSON.parse(source.textContent) : null;

function percentAxis() {
  return { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } };
}

function draw() {
  if (!data) return;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
  Chart.defaults.animation = false; // printable at once
  const months = document.getElementById("chart-months");
  if (months) {
    new Chart(months, {
      data: {
        labels: data.months.labels,
        datasets: [
          { type: "line", label: data.text.share, data: data.months.share, yAxisID: "y",
            borderColor: "#198754", backgroundColor: "#198754", tension: 0.2, spanGaps: true },
          { type: "bar", label: data.text.finished, data: data.months.finished, yAxisID: "n",
            backgroundColor: "rgba(13,110,253,.25)" },
          { type: "bar", label: data.text.late, data: data.months.late, yAxisID: "n",
            backgroundColor: "rgba(220,53,69,.55)" },
        ],
      },
      options: {
        maintainAspectRatio: false,
        scales: { y: { ...percentAxis(), position: "left" }, n: { position: "right", beginAtZero: true,
                  grid: { drawOnChartArea: false } } },
      },
    });
  }
  const units = document.getElementById("chart-units");
  if (units) {
    new Chart(units, {
      type: "bar",
      data: { labels: data.units.labels, datasets: [{ label: data.text.share, data: data.units.share,
        backgroundColor: data.units.share.map((v) => (v >= 95 ? "#198754" : v >= 80 ? "#ffc107" : "#dc3545")) }] },
      options: { indexAxis: "y", maintainAspectRatio: false, scales: { x: percentAxis(),
        y: { ticks: { autoSkip: false, font: { size: 11 } } } }, plugins: { legend: { display: false } } },
    });
  }
}

draw();
window.addEventListener("beforeprint", () => {
  for (const chart of Object.values(Chart.instances)) chart.resize();
});
