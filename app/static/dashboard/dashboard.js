// Taskgate dashboard: the throughput chart (uPlot). It reads tasks submitted, succeeded and
// dead per second from the server, the whole span once and then only the newest seconds.
// Everything else on the pages is server-rendered HTML (htmx refreshes the live figures).
(function () {
  "use strict";

  const holder = document.getElementById("throughput-chart");
  if (!holder || typeof window.uPlot !== "function") {
    return;
  }
  const summary = document.getElementById("throughput-summary");
  const refreshMs = Math.max(500, Number(holder.dataset.refresh || "3") * 1000);
  const names = ["submitted", "succeeded", "dead"];
  const colors = { submitted: "#1f5fbf", succeeded: "#1c7c3a", dead: "#b3261e" };
  let span = 300;
  let seconds = [];
  let series = { submitted: [], succeeded: [], dead: [] };
  let chart = null;

  function size() {
    return { width: Math.max(320, holder.clientWidth), height: 200 };
  }

  // Times in UTC, as everywhere on the pages: 19:35:00.
  function clock(seconds) {
    return new Date(seconds * 1000).toISOString().slice(11, 19);
  }

  function build() {
    const options = Object.assign(size(), {
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [
        { values: (u, splits) => splits.map(clock) },
        { label: "tasks / s", size: 60 },
      ],
      series: [{ label: "UTC", value: (u, value) => (value == null ? "--" : clock(value)) }].concat(
        names.map((name) => ({ label: name, stroke: colors[name], width: 2, points: { show: false } }))
      ),
      legend: { live: true },
    });
    chart = new window.uPlot(options, data(), holder);
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => chart.setSize(size())).observe(holder);
    }
  }

  function data() {
    return [seconds].concat(names.map((name) => series[name]));
  }

  // The server's seconds from `start` replace what we held from there on.
  function merge(answer) {
    const keep = seconds.findIndex((second) => second >= answer.start);
    const cut = keep === -1 ? seconds.length : keep;
    seconds = seconds.slice(0, cut);
    names.forEach((name) => {
      series[name] = series[name].slice(0, cut).concat(answer.series[name]);
    });
    const count = answer.series[names[0]].length;
    for (let index = 0; index < count; index += 1) {
      seconds.push(answer.start + index);
    }
    span = answer.span;
    const oldest = seconds.length ? seconds[seconds.length - 1] - span + 1 : 0;
    const drop = seconds.findIndex((second) => second >= oldest);
    if (drop > 0) {
      seconds = seconds.slice(drop);
      names.forEach((name) => {
        series[name] = series[name].slice(drop);
      });
    }
  }

  function describe() {
    if (!summary) {
      return;
    }
    const totals = names.map((name) => series[name].reduce((sum, value) => sum + value, 0));
    const peak = Math.max(0, ...series.submitted);
    summary.textContent =
      `Last ${Math.round(span / 60)} minutes: ${totals[0]} submitted, ${totals[1]} succeeded, ` +
      `${totals[2]} dead (at most ${peak} submitted in one second).`;
  }

  async function refresh() {
    if (!document.hidden) {
      const after = seconds.length ? `?after=${seconds[seconds.length - 1] + 1}` : "";
      try {
        const response = await fetch(holder.dataset.url + after, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (response.status === 401) {
          const answer = await response.json().catch(() => ({}));
          window.location.assign(answer.login || holder.dataset.login);
          return;
        }
        if (response.ok) {
          merge(await response.json());
          if (chart) {
            chart.setData(data());
          } else {
            build();
          }
          describe();
        }
      } catch (error) {
        // The next refresh tries again (the server may be restarting).
      }
    }
    window.setTimeout(refresh, refreshMs);
  }

  refresh();
})();
