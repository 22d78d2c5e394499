// Watching and stopping sends: the pause banner on every page, an execution's live
// progress bar with Cancel and Retry failed, the job page's chart of recent runs, and
// #/executions, the search across jobs. Charts are drawn here as SVG (no library).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
// The progress bar's and the chart's segments, in this order (style.css's .swatch too).
const OUTCOME_COLOURS = {
  sent: "#067647", failed: "#b42318", uncertain: "#b54708", skipped: "#98a2b3",
  cancelled: "#667085", waiting: "#dfe3ea",
};

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child == null) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function number(value) { return Number(value || 0).toLocaleString("en-US"); }

function duration(seconds) {
  if (seconds == null) return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// --- the pause banner ----------------------------------------------------------------------

// Shown on every page while sending is paused (route() calls it on each view).
async function showPauseState() {
  const state = await api("GET", "/api/system").catch(() => null);
  const banner = document.getElementById("pause-banner");
  const button = document.getElementById("pause-button");
  if (!state) return;
  button.hidden = state.paused;
  banner.hidden = !state.paused;
  if (!state.paused) return;
  fill(banner,
    h("span", {}, h("strong", {}, "Sending is paused"),
      ` by ${state.by} since ${when(state.at)}`, state.reason ? ` — ${state.reason}` : "", ". ",
      "Firings are recorded as skipped; queued messages wait, and go out on resume."),
    h("button", { class: "primary changes", id: "resume", onclick: resumeSending }, "Resume sending"));
}

async function pauseSending() {
  const reason = window.prompt(
    "Pause all sending? Firings will be recorded as skipped and queued messages will wait.\n\n" +
    "Why (shown to every admin while paused):", "");
  if (reason === null) return;
  try {
    await api("POST", "/api/system/pause", { reason });
    toast("Sending is paused");
    route();
  } catch (error) { toast(error.message); }
}

async function resumeSending() {
  try {
    const done = await api("POST", "/api/system/resume");
    const dropped = done.deliveries_dropped
      ? `; ${number(done.deliveries_dropped)} messages dropped as missed (paused too long)` : "";
    toast(`Resumed after ${duration(done.paused_seconds)}: ${done.executions_resumed} sends go on${dropped}`);
    route();
  } catch (error) { toast(error.message); }
}

// --- one execution, live -------------------------------------------------------------------

function progressBar(progress) {
  const total = Math.max(progress.total, 1);
  let x = 0;
  const segments = Object.keys(OUTCOME_COLOURS).map((state) => {
    const width = (progress[state] / total) * 100;
    const rect = svg("rect", { x: `${x}%`, y: 0, width: `${width}%`, height: 18,
                               fill: OUTCOME_COLOURS[state], "data-state": state },
      svg("title", {}, `${STATE_WORDS[state] || state}: ${number(progress[state])}`));
    x += width;
    return rect;
  });
  return svg("svg", { class: "progress", width: "100%", height: 18, role: "img",
                      "aria-label": `${number(progress.sent)} of ${number(progress.total)} sent` },
    segments);
}

function progressWords(progress) {
  const parts = [`sent ${number(progress.sent)}`, `failed ${number(progress.failed)}`];
  if (progress.uncertain) parts.push(`may have arrived ${number(progress.uncertain)}`);
  if (progress.skipped) parts.push(`skipped ${number(progress.skipped)}`);
  if (progress.cancelled) parts.push(`cancelled ${number(progress.cancelled)}`);
  parts.push(`waiting ${number(progress.waiting)}`);
  let text = `${parts.join(" · ")} — of ${number(progress.total)}`;
  if (progress.sending) {
    text += ` · ${progress.per_second} messages/s`;
    text += progress.seconds_left != null ? ` · about ${duration(progress.seconds_left)} left` : "";
  }
  return text;
}

function legend() {
  return h("div", { class: "legend muted" }, Object.entries(OUTCOME_COLOURS).map(([state, colour]) =>
    h("span", {}, h("i", { class: `swatch ${state}` }), STATE_WORDS[state] || state)));
}

function executionActions(run) {
  const live = run.status === "running" || (run.progress.waiting > 0 && run.status !== "cancelled");
  return h("div", { class: "actions" },
    live && ["running", "succeeded", "failed"].includes(run.status)
      ? h("button", { class: "danger changes", id: "cancel-execution", onclick: () => cancelRun(run) },
        "Cancel the rest of this send") : null,
    run.retryable_failed > 0 && run.status !== "cancelled"
      ? h("button", { class: "secondary changes", id: "retry-failed", onclick: () => retryFailed(run) },
        `Retry ${number(run.retryable_failed)} failed`) : null);
}

async function cancelRun(run) {
  const waiting = number(run.progress.waiting);
  if (!confirm(`Cancel execution ${run.id} of ${run.job}? The ${waiting} messages not sent yet ` +
               "will not be sent. Those already on their way finish.")) return;
  try {
    const done = await api("POST", `/api/executions/${run.id}/cancel`);
    toast(`Cancelled: ${number(done.cancelled)} not sent; ${done.in_flight} were in flight`);
    route();
  } catch (error) { toast(error.message); }
}

async function retryFailed(run) {
  try {
    const done = await api("POST", `/api/executions/${run.id}/retry-failed`);
    toast(`Retrying ${number(done.retried)} failed; ${number(done.not_retried)} left ` +
          "(blocked, opted out, or refused by Telegram)");
    route();
  } catch (error) { toast(error.message); }
}

function executionCard(run) {
  return h("section", { class: "card", id: "execution" },
    h("h2", {}, `Execution ${run.id} of `, h("a", { href: `#/jobs/${run.job}` }, run.job), " ",
      badge(run.status === "succeeded" && run.progress.sending ? "sending" : run.status)),
    h("p", {}, `${run.trigger} firing for ${when(run.scheduled_for)} · started ${when(run.started_at)}`,
      ` · everyone queued ${when(run.finished_at)}`,
      run.duration_ms != null ? ` (in ${run.duration_ms} ms)` : "",
      ` · lock ${run.lock_mode || "—"} · attempt ${run.attempts}`),
    run.progress.total ? [progressBar(run.progress),
      h("p", { id: "progress-words" }, progressWords(run.progress)), legend()] : null,
    h("p", {}, `Reached ${run.recipients_count}, queued ${run.queued_count}, sent ${run.sent_count}, `,
      `failed ${run.failed_count}, skipped ${run.skipped_count}`,
      run.uncertain_count ? `, may have arrived ${run.uncertain_count}` : "",
      run.cancelled_count ? `, cancelled ${run.cancelled_count}` : ""),
    run.status === "cancelled" ? h("p", { class: "muted", id: "cancelled-note" },
      `Cancelled by ${run.cancelled_by} at ${when(run.cancelled_at)}: what was not sent by then`,
      " was not sent; what was already on its way finished.") : null,
    run.uncertain_count ? h("p", { class: "muted", id: "uncertain-note" },
      "May have arrived: sent, but no answer came back (the connection dropped, or a notifier",
      " stopped mid-send). Telegram may well have delivered it; it is not sent again, so",
      " nobody gets a message twice.") : null,
    run.detail ? h("p", { class: "muted" }, run.detail) : null,
    run.error ? h("p", { class: "error" }, run.error) : null,
    shardsPart(run.shard_progress || []),
    executionActions(run),
    run.delivery_errors.length ? [h("h3", {}, "Latest delivery errors"),
      h("ul", {}, run.delivery_errors.map((e) => h("li", {}, `user ${e.user_id}: ${e.last_error}`)))] : null);
}

// A split execution (execution/shards.py): how far its shards got, and any that failed.
function shardsPart(shards) {
  if (!shards.length) return null;
  const by = {};
  for (const shard of shards) by[shard.status] = (by[shard.status] || 0) + 1;
  const range = (shard) => `users ${number(shard.first_user_id)} to ` +
    (shard.last_user_id == null ? "the newest" : number(shard.last_user_id));
  const failed = shards.filter((shard) => shard.status === "failed");
  return h("div", { id: "shards" },
    h("p", {}, `Split into ${shards.length} shards run in parallel: `,
      Object.entries(by).map(([state, count]) => `${count} ${state}`).join(", "), "."),
    failed.length ? h("ul", { class: "error" }, failed.map((shard) => h("li", {},
      `Shard ${shard.shard} (${range(shard)}), ${shard.attempts} attempts: ${shard.error}`))) : null);
}

// Redrawn every second while the send goes on; route() clears the timer on leaving.
async function showExecution(id) {
  const run = await api("GET", `/api/executions/${encodeURIComponent(id)}`);
  fill(main, executionCard(run));
  if (run.status === "running" || run.progress.sending) {  // shards running count too
    refreshTimer = setInterval(async () => {
      const fresh = await api("GET", `/api/executions/${encodeURIComponent(id)}`).catch(() => null);
      const card = document.getElementById("execution");
      if (!fresh || !card) return;
      card.replaceWith(executionCard(fresh));
      if (fresh.status !== "running" && !fresh.progress.sending) clearInterval(refreshTimer);
    }, 1000);
  }
}

// --- the job page's chart ------------------------------------------------------------------

// The latest runs (oldest on the left): a stacked bar of sent, failed and may-have-arrived
// per run over the people reached, and its duration as a line on the right-hand scale.
function runsChart(executions) {
  const runs = executions.filter((run) => !["skipped", "missed"].includes(run.status)).slice(0, 30).reverse();
  if (!runs.length) return null;
  const width = 640, height = 180, left = 44, right = 48, top = 10, bottom = 24;
  const plotW = width - left - right, plotH = height - top - bottom;
  const most = Math.max(1, ...runs.map((run) => run.recipients_count));
  const longest = Math.max(1, ...runs.map((run) => run.duration_ms || 0));
  const step = plotW / runs.length, barW = Math.max(2, Math.min(24, step * 0.7));
  const y = (count) => top + plotH - (count / most) * plotH;
  const bars = runs.map((run, index) => {
    const x = left + index * step + (step - barW) / 2;
    let base = 0;
    const stack = [["sent", run.sent_count], ["failed", run.failed_count], ["uncertain", run.uncertain_count]]
      .map(([state, count]) => {
        const rect = svg("rect", { x, y: y(base + count), width: barW, height: y(base) - y(base + count),
                                   fill: OUTCOME_COLOURS[state], "data-state": state });
        base += count;
        return rect;
      });
    const reached = svg("rect", { x, y: y(run.recipients_count), width: barW,
                                  height: y(0) - y(run.recipients_count), fill: "none",
                                  stroke: "#98a2b3", "stroke-dasharray": "2 2" });
    return svg("g", { class: "run", "data-id": run.id },
      svg("title", {}, `${when(run.scheduled_for)} · ${run.status} · reached ${number(run.recipients_count)},` +
        ` sent ${number(run.sent_count)}, failed ${number(run.failed_count)}` +
        (run.duration_ms != null ? ` · ${duration(run.duration_ms / 1000)}` : "")),
      reached, stack);
  });
  const points = runs.map((run, index) => `${left + index * step + step / 2},` +
    `${top + plotH - ((run.duration_ms || 0) / longest) * plotH}`).join(" ");
  const axis = [
    svg("line", { x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH, stroke: "#c9ced8" }),
    svg("text", { x: left - 6, y: top + 10, "text-anchor": "end", class: "tick" }, number(most)),
    svg("text", { x: left - 6, y: top + plotH, "text-anchor": "end", class: "tick" }, "0"),
    svg("text", { x: left + plotW + 6, y: top + 10, class: "tick" }, duration(longest / 1000)),
    svg("text", { x: left, y: height - 6, class: "tick" }, when(runs[0].scheduled_for)),
    svg("text", { x: left + plotW, y: height - 6, "text-anchor": "end", class: "tick" },
      when(runs[runs.length - 1].scheduled_for)),
  ];
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
                             "aria-label": `The latest ${runs.length} runs` },
    axis, bars, svg("polyline", { points, fill: "none", stroke: "#2457d6", "stroke-width": 1.5,
                                  class: "duration" }));
  chart.addEventListener("click", (event) => {
    const group = event.target.closest("g.run");
    if (group) location.hash = `#/executions/${group.dataset.id}`;
  });
  return h("div", { id: "runs-chart" }, chart,
    h("div", { class: "legend muted" },
      h("span", {}, h("i", { class: "swatch sent" }), "sent"),
      h("span", {}, h("i", { class: "swatch failed" }), "failed"),
      h("span", {}, h("i", { class: "swatch uncertain" }), "may have arrived"),
      h("span", {}, h("i", { class: "swatch dashed" }), "reached"),
      h("span", {}, h("i", { class: "swatch duration" }), "duration (right scale)")));
}

// --- executions across jobs ----------------------------------------------------------------

const EXECUTION_STATES = ["running", "succeeded", "failed", "cancelled", "skipped", "missed"];

async function showExecutions() {
  const params = new URLSearchParams();
  const status = h("select", { id: "search-status" }, h("option", { value: "" }, "any status"),
    EXECUTION_STATES.map((state) => h("option", { value: state, selected: params.get("status") === state },
      state)));
  const since = h("input", { type: "date", id: "search-since", value: params.get("since") || "" });
  const until = h("input", { type: "date", id: "search-until", value: params.get("until") || "" });
  const results = h("div", { id: "search-results" });
  const search = async (before) => {
    const asked = new URLSearchParams();
    if (status.value) asked.set("status", status.value);
    if (since.value) asked.set("since", since.value);
    if (until.value) asked.set("until", until.value);
    if (before) asked.set("before", before);
    try {
      const page = await api("GET", `/api/executions?${asked}`);
      const table = page.executions.length ? h("table", {}, h("thead", {}, h("tr", {},
        ["When", "Job", "Trigger", "Status", "Reached", "Sent", "Failed", "Detail"].map((t) => h("th", {}, t)))),
      h("tbody", {}, page.executions.map((run) => h("tr", { class: "clickable execution",
        onclick: () => { location.hash = `#/executions/${run.id}`; } },
        h("td", {}, when(run.scheduled_for)), h("td", {}, run.job), h("td", {}, run.trigger),
        h("td", {}, badge(run.status)), h("td", {}, run.recipients_count), h("td", {}, run.sent_count),
        h("td", {}, run.failed_count), h("td", { class: "muted" }, run.error || run.detail || "")))))
        : h("p", { class: "muted" }, "No executions match.");
      if (!before) results.replaceChildren();
      results.append(table);
      if (page.next) {
        const more = h("button", { class: "secondary", onclick: () => { more.remove(); search(page.next); } },
          "Older");
        results.append(h("div", { class: "actions" }, more));
      }
    } catch (error) { fail(results, error); }
  };
  fill(main, h("section", { class: "card" }, h("h2", {}, "Executions of every job"),
    h("form", { class: "row", onsubmit: (event) => { event.preventDefault(); search(); } },
      h("div", {}, h("label", { for: "search-status" }, "Status"), status),
      h("div", {}, h("label", { for: "search-since" }, "From (UTC)"), since),
      h("div", {}, h("label", { for: "search-until" }, "Before (UTC)"), until),
      h("div", { class: "actions" }, h("button", { class: "primary", type: "submit", id: "search" }, "Search"))),
    results));
  await search();
}

document.getElementById("pause-button").addEventListener("click", pauseSending);
