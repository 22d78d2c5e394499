// The admin site: plain JavaScript over the admin API (no build step). Views by hash:
// #/jobs, #/jobs/<name>, #/new, #/audit; #/people, #/packs and #/packs/<id> are in
// people.js; #/executions and #/executions/<id>, the pause banner and the charts in
// control.js. The token lives in
// sessionStorage for this tab only.
"use strict";

const main = document.getElementById("main");
const TOKEN_KEY = "admin-token";
let refreshTimer = null;

// --- helpers -------------------------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (value === true) element.setAttribute(key, "");
    else if (value !== false && value != null) element.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// replaceChildren() writes a null child as the text "null"; this leaves it out, as h() does.
function fill(element, ...children) {
  element.replaceChildren(...children.flat().filter((child) => child != null && child !== false));
}

function toast(text) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function when(iso) {
  if (!iso) return "—";
  // To the second (to the minute when the seconds are 00), in UTC as the API gives it.
  return iso.replace("T", " ").replace(/(:\d\d)\.\d+/, "$1").replace(/:00(?=[+-]|Z)/, "")
    .replace("+00:00", " UTC");
}

function badge(text) { return h("span", { class: `badge ${text}` }, STATE_WORDS[text] || text); }

// A delivery's state as an admin reads it (model.py's DeliveryStatus).
const STATE_WORDS = {
  ready: "waiting its turn", queued: "on the queue", sending: "being sent",
  uncertain: "may have arrived",
  expired: "time passed",  // a one-off whose minute went by unrun (job.finished.state)
};

// A job's state for its badge: finished (done, expired, ended) before enabled or disabled.
function jobState(job) {
  if (job.orphaned) return "orphaned";
  if (job.finished) return job.finished.state;
  return job.enabled ? "enabled" : "disabled";
}

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.field = error.field;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// A job that would send more than the bot's daily budget allows is refused until the admin
// confirms it, with the numbers (422, field confirm_audience): ask, and send again if yes.
async function saveJob(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (error) {
    if (error.field !== "confirm_audience" || !window.confirm(`${error.message}\n\nSave it anyway?`)) {
      throw error;
    }
    return api(method, path, { ...body, confirm_audience: true });
  }
}

function fail(where, error) {
  where.replaceChildren(h("p", { class: "error" }, error.message));
}

// --- sign in -------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  showRole.known = null;
  showSignIn(message);
}

function showSignIn(message) {
  document.getElementById("nav").hidden = true;
  const input = h("input", { type: "password", id: "token", autocomplete: "off",
                             placeholder: "tja_…" });
  const status = h("p", { class: "error", id: "sign-in-error" }, message || "");
  const form = h("form", { onsubmit: async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      await api("GET", "/api/jobs");
      // One render of the jobs: a hash change routes by itself, and a second, later render
      // would replace whatever the admin had opened meanwhile.
      if (location.hash === "#/jobs") route();
      else location.hash = "#/jobs";
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      status.textContent = error.message;
    }
  } },
    h("label", { for: "token" }, "Admin token"),
    input,
    h("p", { class: "muted" }, "Made with: jobsctl admin-token create YOUR-NAME"),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Sign in")),
    status);
  main.replaceChildren(h("section", { class: "card" }, h("h2", {}, "Sign in"), form));
  input.focus();
}

// --- jobs table ----------------------------------------------------------------------------

async function showJobs() {
  const { jobs } = await api("GET", "/api/jobs");
  const rows = jobs.map((job) => h("tr", { class: "clickable", "data-job": job.name,
                                           onclick: () => { location.hash = `#/jobs/${job.name}`; } },
    h("td", { "data-label": "Job" }, h("a", { href: `#/jobs/${job.name}` }, job.name),
      job.paid_broadcast ? [" ", paidMark()] : null,
      h("div", { class: "muted" }, job.description)),
    h("td", { "data-label": "Status" }, badge(jobState(job))),
    h("td", { "data-label": "Schedule" }, job.schedule.in_words || job.schedule.error),
    h("td", { "data-label": "Next run" }, when(job.schedule.next_runs[0])),
    h("td", { "data-label": "Last run" }, job.last_execution
      ? [badge(job.last_execution.status), " ", when(job.last_execution.scheduled_for)]
      : h("span", { class: "muted" }, "never"))));
  main.replaceChildren(h("section", { class: "card" }, h("h2", {}, "Jobs"),
    h("table", { class: "jobs" },
      h("thead", {}, h("tr", {}, ["Job", "Status", "Schedule", "Next run", "Last run"]
        .map((title) => h("th", {}, title)))),
      h("tbody", {}, rows))));
}

// --- one job -------------------------------------------------------------------------------

async function showJob(name) {
  const job = await api("GET", `/api/jobs/${encodeURIComponent(name)}`);
  const custom = job.kind === "custom_message";
  fill(main,
    h("section", { class: "card" },
      h("h2", {}, job.name, " ", badge(job.enabled ? "enabled" : "disabled"),
        job.finished ? [" ", badge(job.finished.state)] : null,
        job.paid_broadcast ? [" ", paidMark()] : null),
      job.paid_broadcast ? h("p", { class: "paid-cost", id: "paid-note" }, "A paid broadcast:",
        " sent at up to 1,000 messages a second, and Telegram bills the bot 0.1 Stars for",
        " every message over the free 30 a second.") : null,
      job.finished ? h("p", { class: "muted", id: "finished" },
        `It fires no more: ${job.finished.says}.`,
        job.finished.state === "ended" ? " Move its end later to start it again."
          : " Give it a new time to run it again; Run now still runs it.") : null,
      h("p", { class: "muted" }, `${job.kind === "coded" ? "Coded job" : "Message job"} · `,
        `version ${job.version} · reaches ${job.targeting} · changed by ${job.updated_by}`),
      job.description ? h("p", {}, job.description) : null,
      h("div", { class: "actions" },
        h("button", { class: "secondary", id: "toggle", onclick: () => toggle(job) },
          job.enabled ? "Disable" : "Enable"),
        h("button", { class: "primary", id: "run-now", onclick: () => runNow(job) }, "Run now"),
        custom ? h("button", { class: "secondary", id: "send-test", onclick: () => sendTest(job) },
          "Send me a test") : null,
        custom ? h("button", { class: "danger", id: "delete", onclick: () => remove(job) },
          "Delete") : null)),
    scheduleEditor(job),
    targetingEditor(job),
    custom ? messageEditor(job) : null,
    await history(job));
  readOnlyForViewers();
}

// A viewer sees the job's fields as they are, not as a form it could fill in: nothing
// would save it (the buttons that would are hidden, style.css body.viewer).
function readOnlyForViewers() {
  if (!document.body.classList.contains("viewer")) return;
  for (const field of main.querySelectorAll(".editable input, .editable textarea, .editable select")) {
    field.disabled = true;
  }
}

async function save(job, changes, done) {
  try {
    await saveJob("PATCH", `/api/jobs/${job.name}`, { version: job.version, ...changes });
    toast(done);
    route();
  } catch (error) {
    const reload = error.status === 409 ? " Reloading…" : "";
    toast(`${error.message}${error.field ? ` (${error.field})` : ""}${reload}`);
    if (error.status === 409) setTimeout(route, 1500);
    throw error;
  }
}

function toggle(job) {
  save(job, { enabled: !job.enabled }, job.enabled ? "Disabled" : "Enabled").catch(() => {});
}

// "Run now" asks first: how many people it reaches, the first one's message as they would
// get it (shown as text), and that a disabled job runs anyway.
async function confirmRun(job) {
  const preview = await api("POST", `/api/jobs/${job.name}/preview`, {});
  const people = `${preview.recipients} ${preview.recipients === 1 ? "person" : "people"}`;
  const dialog = h("dialog", { id: "confirm-run" },
    h("h3", {}, `Run ${job.name} now?`),
    h("p", {}, `It reaches ${people}, now.`),
    job.enabled ? null : h("p", { class: "error" },
      "This job is disabled: a run now sends anyway (its schedule stays off)."),
    preview.sample ? [h("p", { class: "muted" }, `${preview.sample.first_name || "The first person"} gets:`),
                      h("pre", { class: "json" }, preview.sample.text)] : null,
    h("form", { method: "dialog", class: "actions" },
      h("button", { value: "cancel", class: "secondary", id: "confirm-run-cancel" }, "Cancel"),
      h("button", { value: "run", class: "primary", id: "confirm-run-send" },
        `Send to ${people}`)));
  document.body.append(dialog);
  dialog.showModal();
  const answer = await new Promise((resolve) => dialog.addEventListener("close",
    () => resolve(dialog.returnValue), { once: true }));
  dialog.remove();
  return answer === "run";
}

async function runNow(job) {
  try {
    if (!(await confirmRun(job))) return;
    const answer = await api("POST", `/api/jobs/${job.name}/run`);
    toast(`Queued ${answer.job} for ${when(answer.scheduled_for)}`);
    setTimeout(route, 1500);
  } catch (error) { toast(error.message); }
}

// The job's message, rendered for the admin, to their own chat (the token's Telegram id).
async function sendTest(job) {
  try {
    const answer = await api("POST", `/api/jobs/${job.name}/test`);
    toast(`Sent a test to your chat (${answer.chat_id}), message ${answer.telegram_message_id}`);
  } catch (error) { toast(error.message); }
}

async function remove(job) {
  if (!confirm(`Delete ${job.name}? Its history goes with it.`)) return;
  try {
    await api("DELETE", `/api/jobs/${job.name}?version=${job.version}`);
    toast(`Deleted ${job.name}`);
    location.hash = "#/jobs";
  } catch (error) { toast(error.message); }
}

// "Repeat" (cron or rate, with an optional start and end) or "Once at" (a date and time):
// the same choice on the new-job form (prefix "new-") and the job page (prefix "").
// Times are datetime-local values, read by the API in the job's timezone.
function whenFields(prefix, job, onChange) {
  const once = (job.expression || "").startsWith("at(");
  const local = (iso) => (iso || "").slice(0, 16);  // "2026-12-04T09:00:00+03:30" -> input value
  const expression = h("input", { type: "text", id: `${prefix}expression`,
                                  value: once ? "cron(0 9 ? * MON *)" : job.expression });
  const starts = h("input", { type: "datetime-local", id: `${prefix}starts`, value: local(job.starts_at) });
  const ends = h("input", { type: "datetime-local", id: `${prefix}ends`, value: local(job.ends_at) });
  const at = h("input", { type: "datetime-local", id: `${prefix}once-at`,
                          value: once ? job.expression.slice(3, 19) : "" });
  const choice = (value, text) => h("label", { class: "muted choice" },
    h("input", { type: "radio", name: `${prefix}when`, id: `${prefix}when-${value}`, value,
                 checked: (value === "once") === once }), ` ${text}`);
  const repeatPanel = h("div", { id: `${prefix}repeat-fields` }, h("div", { class: "row" },
    h("div", {}, h("label", { for: `${prefix}expression` }, "Expression (EventBridge cron or rate)"),
      expression),
    h("div", {}, h("label", { for: `${prefix}starts` }, "Starts (optional)"), starts),
    h("div", {}, h("label", { for: `${prefix}ends` }, "Ends (optional)"), ends)));
  const oncePanel = h("div", { id: `${prefix}once-fields` },
    h("label", { for: `${prefix}once-at` }, "Once at (in the job's timezone)"), at);
  const element = h("div", {}, h("div", { class: "actions" }, choice("repeat", "Repeat"),
    choice("once", "Once at")), repeatPanel, oncePanel);
  const isOnce = () => element.querySelector(`#${prefix}when-once`).checked;
  const show = () => { repeatPanel.hidden = isOnce(); oncePanel.hidden = !isOnce(); };
  const expressionValue = () => (isOnce() ? `at(${at.value})` : expression.value.trim());
  for (const input of [expression, starts, ends, at]) input.addEventListener("input", onChange);
  element.addEventListener("change", () => { show(); onChange(); });
  show();
  return {
    element, expressionValue,
    values: () => ({ expression: expressionValue(),
                     starts_at: isOnce() ? null : starts.value || null,
                     ends_at: isOnce() ? null : ends.value || null }),
  };
}

function scheduleEditor(job) {
  const timezone = h("input", { type: "text", id: "timezone", value: job.timezone });
  const check = h("div", { id: "schedule-check", "aria-live": "polite" });
  let pending = null;
  const validate = () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const query = new URLSearchParams({ expression: timing.expressionValue(),
                                          timezone: timezone.value.trim() });
      try {
        const schedule = await api("GET", `/api/schedule?${query}`);
        check.replaceChildren(h("p", { class: "ok" }, schedule.in_words),
          h("ul", { class: "runs" }, schedule.next_runs.map((run) => h("li", {}, when(run)))));
        saveButton.disabled = false;
      } catch (error) {
        check.replaceChildren(h("p", { class: "error" }, error.message));
        saveButton.disabled = true;
      }
    }, 250);
  };
  const timing = whenFields("", job, validate);
  const saveButton = h("button", { class: "primary", id: "save-schedule", onclick: () =>
    save(job, { ...timing.values(), timezone: timezone.value.trim() },
         "Schedule saved").catch(() => {}) }, "Save schedule");
  timezone.addEventListener("input", validate);
  validate();
  return h("section", { class: "card editable" }, h("h3", {}, "Schedule"), timing.element,
    h("div", { class: "row" }, h("div", {}, h("label", { for: "timezone" }, "Timezone"), timezone)),
    h("p", { class: "muted" }, "Next runs:"), check,
    h("div", { class: "actions" }, saveButton));
}

function idPicker(label, id, ids, search, describe, lookup) {
  // Chosen ids show as #id only until lookup() has fetched who they are.
  const chosen = new Map(ids.map((value) => [value, `#${value}`]));
  const chips = h("div", { class: "chips", id: `${id}-chips` });
  const results = h("div", { class: "results", hidden: true });
  const draw = () => chips.replaceChildren(...[...chosen].map(([value, text]) =>
    h("span", { class: "chip" }, text, h("button", { type: "button", title: "Remove",
      onclick: () => { chosen.delete(value); draw(); } }, "×"))));
  const input = h("input", { type: "search", id, placeholder: "Search…", oninput: async () => {
    if (!input.value.trim()) { results.hidden = true; return; }
    const found = await search(input.value.trim());
    results.replaceChildren(...found.map((item) => h("div", { onclick: () => {
      chosen.set(item.id, describe(item)); draw(); results.hidden = true; input.value = "";
    } }, describe(item))));
    results.hidden = found.length === 0;
  } });
  draw();
  if (ids.length) {
    lookup(ids).then((found) => {
      const named = new Map(found.map((item) => [item.id, describe(item)]));
      for (const value of ids) {
        if (chosen.has(value)) chosen.set(value, named.get(value) || `#${value} (not found)`);
      }
      draw();
    }).catch((error) => toast(`Could not load the chosen people: ${error.message}`));
  }
  return { element: h("div", {}, h("label", { for: id }, label), chips, input, results),
           values: () => [...chosen.keys()] };
}

async function searchUsers(text) {
  return (await api("GET", `/api/users?q=${encodeURIComponent(text)}`)).users;
}

const MAX_IDS_PER_LOOKUP = 200;  // what GET /api/users?ids= takes at once

async function usersById(ids) {
  const pages = [];
  for (let start = 0; start < ids.length; start += MAX_IDS_PER_LOOKUP) {
    const some = ids.slice(start, start + MAX_IDS_PER_LOOKUP).join(",");
    pages.push(api("GET", `/api/users?ids=${some}`));
  }
  return (await Promise.all(pages)).flatMap((page) => page.users);
}

function describeUser(user) {
  return `${user.first_name || ""} ${user.username ? "@" + user.username : ""} #${user.id}`.trim();
}

function targetingPickers(job) {
  const include = idPicker("Only these people", "include", job.include_user_ids || [],
                           searchUsers, describeUser, usersById);
  const exclude = idPicker("Never these people", "exclude", job.exclude_user_ids || [],
                           searchUsers, describeUser, usersById);
  const packs = h("div", { id: "packs" }, h("p", { class: "muted" }, "Loading packs…"));
  // Until the packs are on screen, no pack choice is sent: an empty list would drop the
  // job's packs (and with nobody chosen, reach everyone).
  let packsShown = false;
  const loaded = api("GET", "/api/character-packs").then(({ packs: all }) => {
    packs.replaceChildren(...all.map((pack) => h("label", { class: "muted" },
      h("input", { type: "checkbox", value: pack.id,
                   checked: (job.pack_ids || []).includes(pack.id) }),
      ` ${pack.name} (${pack.members})`)));
    packsShown = true;
  }).catch((error) => fail(packs, error));
  const values = () => {
    const chosen = { include_user_ids: include.values(), exclude_user_ids: exclude.values() };
    if (packsShown) {
      chosen.pack_ids = [...packs.querySelectorAll("input:checked")].map((box) => Number(box.value));
    }
    return chosen;
  };
  return { element: h("div", {}, include.element, exclude.element,
                      h("label", {}, "Character packs"), packs), values, loaded };
}

function targetingEditor(job) {
  const pickers = targetingPickers(job);
  const saveButton = h("button", { class: "primary", id: "save-targeting", disabled: true,
    onclick: () => save(job, pickers.values(), "Targeting saved").catch(() => {}) },
    "Save targeting");
  pickers.loaded.then(() => {
    if (pickers.element.querySelector("#packs .error") === null) saveButton.disabled = false;
  });
  return h("section", { class: "card editable" }, h("h3", {}, "Who it reaches"),
    h("p", { class: "muted" }, "With nobody chosen and no pack, the job reaches every active person."),
    pickers.element, h("div", { class: "actions" }, saveButton));
}

// The photo, buttons, the last two toggles and the paid broadcast are message.js's
// messageExtras.
function messageFields(message) {
  const text = h("textarea", { id: "text", "data-field": "message.text" }, message.text || "");
  const html = h("input", { type: "checkbox", id: "html", checked: message.parse_mode === "HTML" });
  const silent = h("input", { type: "checkbox", id: "silent", checked: !!message.silent });
  const extras = messageExtras(message);
  const element = h("div", {},
    h("label", { for: "text" }, "Message (a template: {{ user.first_name }}, {{ date }} …)"),
    text,
    h("label", { class: "muted" }, html, " Telegram HTML (<b>, <i>, <a href>, …)"),
    h("label", { class: "muted" }, silent, " Silent (no sound)"),
    extras.element);
  return {
    element,
    value: () => ({ text: text.value, parse_mode: html.checked ? "HTML" : null,
                    silent: silent.checked, ...extras.value() }),
    mark: (field) => markField(element, field),
  };
}

function previewBox(mark = () => {}) {
  const box = h("div", { id: "preview" });
  return {
    element: box,
    show: async (path, body) => {
      try {
        const answer = await api("POST", path, body);
        const people = answer.recipients === 1 ? "person" : "people";
        mark(null);
        fill(box, h("p", { class: "muted" }, `Reaches ${answer.recipients} ${people}. `,
          answer.sample && answer.sample.first_name ? `As ${answer.sample.first_name} sees it:` : ""),
        answer.sample ? telegramPreview(answer.sample) : null);
      } catch (error) {
        box.replaceChildren(h("p", { class: "error" }, error.message));
        mark(error.field);
      }
    },
  };
}

function htmlPreview(text) {
  // Telegram's HTML subset, shown safely: parsed inertly, only these tags kept.
  const allowed = new Set(["B", "STRONG", "I", "EM", "U", "INS", "S", "STRIKE", "DEL", "A",
                           "CODE", "PRE", "BLOCKQUOTE", "TG-SPOILER", "SPAN"]);
  const parsed = new DOMParser().parseFromString(`<div>${text}</div>`, "text/html").body.firstChild;
  const copy = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
    if (node.nodeType !== Node.ELEMENT_NODE) return document.createTextNode("");
    const out = allowed.has(node.tagName) ? document.createElement(node.tagName === "A" ? "span" : node.tagName)
                                          : document.createElement("span");
    for (const child of node.childNodes) out.append(copy(child));
    return out;
  };
  return copy(parsed);
}

function messageEditor(job) {
  const fields = messageFields(job.message || {});
  const preview = previewBox(fields.mark);
  return h("section", { class: "card editable" }, h("h3", {}, "Message"), fields.element,
    h("div", { class: "actions" },
      h("button", { class: "secondary", id: "preview-button",
        onclick: () => preview.show(`/api/jobs/${job.name}/preview`, { message: fields.value() }) },
        "Preview"),
      h("button", { class: "primary", id: "save-message",
        onclick: () => save(job, { message: fields.value() }, "Message saved")
          .catch((error) => fields.mark(error.field)) },
        "Save message")),
    preview.element);
}

// --- history -------------------------------------------------------------------------------

async function history(job, before) {
  const section = h("section", { class: "card", id: "history" }, h("h3", {}, "Executions"));
  const query = before ? `?before=${encodeURIComponent(before)}` : "";
  const page = await api("GET", `/api/jobs/${job.name}/executions${query}`);
  if (!page.executions.length) section.append(h("p", { class: "muted" }, "No runs yet."));
  else section.append(before ? null : runsChart(page.executions) || "", h("table", {}, h("thead", {}, h("tr", {},
    ["When", "Trigger", "Status", "Reached", "Sent", "Failed", "May have arrived", "Detail"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, page.executions.map((run) => h("tr", { class: "clickable execution",
      onclick: () => { location.hash = `#/executions/${run.id}`; } },
      h("td", {}, when(run.scheduled_for)), h("td", {}, run.trigger), h("td", {}, badge(run.status)),
      h("td", {}, run.recipients_count), h("td", {}, run.sent_count), h("td", {}, run.failed_count),
      h("td", {}, run.uncertain_count), h("td", { class: "muted" }, run.error || run.detail || ""))))));
  if (page.next) {
    section.append(h("div", { class: "actions" }, h("button", { class: "secondary", onclick: async () =>
      section.replaceWith(await history(job, page.next)) }, "Older runs")));
  }
  return section;
}

// --- new job, audit --------------------------------------------------------------------------

function showNew() {
  const name = h("input", { type: "text", id: "new-name", placeholder: "weekly-hello" });
  const timing = whenFields("new-", { expression: "cron(0 9 ? * MON *)" }, () => {});
  const timezone = h("input", { type: "text", id: "new-timezone", value: "Asia/Tehran" });
  const fields = messageFields({ text: "<b>Hello {{ user.first_name }}</b>", parse_mode: "HTML" });
  const pickers = targetingPickers({});
  const status = h("p", { class: "error", id: "new-error" });
  main.replaceChildren(h("section", { class: "card" }, h("h2", {}, "New message job"),
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "new-name" }, "Name (lowercase, digits, -)"), name),
      h("div", {}, h("label", { for: "new-timezone" }, "Timezone"), timezone)),
    timing.element,
    fields.element, pickers.element,
    h("div", { class: "actions" }, h("button", { class: "primary", id: "create", onclick: async () => {
      try {
        const job = await saveJob("POST", "/api/jobs", { name: name.value.trim(),
          ...timing.values(), timezone: timezone.value.trim(),
          message: fields.value(), ...pickers.values() });
        toast(`Created ${job.name}`);
        location.hash = `#/jobs/${job.name}`;
      } catch (error) {
        status.textContent = error.message + (error.field ? ` (${error.field})` : "");
        fields.mark(error.field);
      }
    } }, "Create")), status));
}

async function showAudit() {
  const { entries } = await api("GET", "/api/audit?limit=100");
  main.replaceChildren(h("section", { class: "card" }, h("h2", {}, "Audit log"),
    h("table", {}, h("thead", {}, h("tr", {}, ["When", "Who", "What", "Before", "After"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, entries.map((entry) => h("tr", { class: "audit" },
      h("td", {}, when(entry.at)), h("td", {}, entry.actor),
      h("td", {}, `${entry.action} ${entry.entity_type} ${entry.entity_name}`),
      h("td", {}, entry.before ? h("pre", { class: "json" }, JSON.stringify(entry.before, null, 1)) : "—"),
      h("td", {}, entry.after ? h("pre", { class: "json" }, JSON.stringify(entry.after, null, 1)) : "—")))))));
}

// --- routing ---------------------------------------------------------------------------------

// A viewer's token reads only: what would change something is hidden (style.css,
// body.viewer), and the API would refuse it anyway (403).
async function showRole() {
  if (showRole.known === sessionStorage.getItem(TOKEN_KEY)) return;
  const me = await api("GET", "/api/me");
  document.body.classList.toggle("viewer", me.role === "viewer");
  document.getElementById("who").textContent = `${me.name} (${me.role})`;
  showRole.known = sessionStorage.getItem(TOKEN_KEY);
}

async function route() {
  clearInterval(refreshTimer);
  if (!sessionStorage.getItem(TOKEN_KEY)) { showSignIn(); return; }
  document.getElementById("nav").hidden = false;
  const [, view, argument] = (location.hash || "#/jobs").split("/");
  try {
    await showRole();
    showPauseState();  // the banner, on every page
    if (view === "jobs" && argument) {
      await showJob(decodeURIComponent(argument));
      refreshTimer = setInterval(async () => {  // new runs appear while the page is open
        const old = document.getElementById("history");
        if (!old) return;
        const job = await api("GET", `/api/jobs/${argument}`).catch(() => null);
        if (job) old.replaceWith(await history(job));
      }, 3000);
    } else if (view === "executions" && argument) await showExecution(argument);
    else if (view === "executions") await showExecutions();
    else if (view === "new") showNew();
    else if (view === "audit") await showAudit();
    else if (view === "people" && argument) await showPerson(argument);
    else if (view === "people") await showPeople();
    else if (view === "packs" && argument) await showPack(argument);
    else if (view === "packs") await showPacks();
    else await showJobs();
  } catch (error) {
    if (error.status === 401) signOut(`${error.message}; sign in again.`);
    else fail(main, error);
  }
}

document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
route();
