// The admin site's people and packs views (#/people, #/people/<id>, #/packs,
// #/packs/<id>), over /api/people and /api/character-packs. Uses app.js's helpers (h, fill, api, toast, when).
"use strict";

const PERSON_STATES = { active: "active", blocked: "blocked", opted_out: "opted out" };
const RASTAR_STATES = { linked: "linked", refused: "to link again", not_linked: "—" };

function personName(person) {
  const name = [person.first_name, person.last_name].filter(Boolean).join(" ") || `#${person.id}`;
  return person.username ? `${name} (@${person.username})` : name;
}

function personLanguage(person) {
  if (person.language) return `${person.language} (chosen)`;
  return person.language_code ? `${person.language_code} (Telegram)` : "—";
}

function personRow(person, extra) {
  const why = person.state === "blocked" && person.inactive_reason
    ? ` · ${person.inactive_reason}` : "";
  return h("tr", {},
    h("td", { "data-label": "Person" }, h("a", { href: `#/people/${person.id}` }, personName(person)),
      h("div", { class: "muted" }, `id ${person.id} · chat ${person.telegram_chat_id}`)),
    h("td", { "data-label": "State" }, h("span", { class: `badge ${person.state}` },
      PERSON_STATES[person.state]), h("div", { class: "muted" }, `since ${when(person.since)}${why}`)),
    h("td", { "data-label": "Language" }, personLanguage(person)),
    h("td", { "data-label": "Packs" }, person.packs.join(", ") || "—"),
    h("td", { "data-label": "Rastar" }, RASTAR_STATES[person.rastar]),
    h("td", { "data-label": "Last seen" }, when(person.last_seen_at)),
    extra ? h("td", {}, extra) : null);
}

function peopleTable(people, extra) {
  const headings = ["Person", "State", "Language", "Packs", "Rastar", "Last seen"];
  if (extra) headings.push("");
  return h("table", { class: "people" },
    h("thead", {}, h("tr", {}, headings.map((text) => h("th", {}, text)))),
    h("tbody", {}, people.map((person) => personRow(person, extra && extra(person)))));
}

async function showPeople() {
  const query = h("input", { type: "search", id: "people-q", placeholder: "name, @username or id" });
  const state = h("select", { id: "people-state" },
    h("option", { value: "" }, "everyone"),
    Object.entries(PERSON_STATES).map(([value, text]) => h("option", { value }, text)));
  const counts = h("p", { class: "muted", id: "people-counts" });
  const list = h("div", { id: "people-list" });
  const more = h("button", { type: "button", hidden: true }, "More");
  let after = 0;
  async function load(reset) {
    if (reset) after = 0;
    const params = new URLSearchParams({ limit: "50", after: String(after) });
    if (query.value.trim()) params.set("q", query.value.trim());
    if (state.value) params.set("state", state.value);
    const { people, counts: numbers } = await api("GET", `/api/people?${params}`);
    fill(counts, `${numbers.active} active · ${numbers.blocked} blocked · ` +
                 `${numbers.opted_out} opted out (/stop: left out of every job until /resume)`);
    const table = peopleTable(people);
    if (reset) fill(list, people.length ? table : h("p", { class: "muted" }, "Nobody matches."));
    else list.querySelector("tbody").append(...table.querySelector("tbody").children);
    after = people.length ? people[people.length - 1].id : after;
    more.hidden = people.length < 50;
  }
  let typing = null;
  query.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => load(true), 250); });
  state.addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));
  main.replaceChildren(h("section", { class: "card" }, h("h2", {}, "People"),
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "people-q" }, "Search"), query),
      h("div", {}, h("label", { for: "people-state" }, "State"), state)),
    counts, list, h("div", { class: "actions" }, more)));
  await load(true);
}

function copyButton(text) {
  return h("button", { type: "button", onclick: async () => {
    await navigator.clipboard.writeText(text).catch(() => null);
    toast("Copied the deep link");
  } }, "Copy");
}

async function showPacks() {
  const { packs } = await api("GET", "/api/character-packs");
  const slug = h("input", { type: "text", id: "pack-slug", placeholder: "sunrise-crew" });
  const name = h("input", { type: "text", id: "pack-name", placeholder: "Sunrise Crew" });
  const open = h("input", { type: "checkbox", id: "pack-open" });
  const status = h("p", { class: "error", id: "pack-error" });
  main.replaceChildren(h("section", { class: "card" }, h("h2", {}, "Packs"),
    h("table", { class: "packs" }, h("thead", {}, h("tr", {}, ["Pack", "Slug", "Members", "Open to join", "Deep link"]
      .map((text) => h("th", {}, text)))),
    h("tbody", {}, packs.map((pack) => h("tr", {},
      h("td", { "data-label": "Pack" }, h("a", { href: `#/packs/${pack.id}` }, pack.name)),
      h("td", { "data-label": "Slug" }, pack.slug),
      h("td", { "data-label": "Members" }, String(pack.members)),
      h("td", { "data-label": "Open to join" }, pack.open_to_join ? "yes" : "no"),
      h("td", { "data-label": "Deep link" }, pack.deep_link
        ? [h("code", {}, pack.deep_link), " ", copyButton(pack.deep_link)]
        : h("span", { class: "muted" }, "needs the bot's token")))))),
    h("h3", { class: "changes" }, "New pack"),
    h("div", { class: "row changes" },
      h("div", {}, h("label", { for: "pack-name" }, "Name"), name),
      h("div", {}, h("label", { for: "pack-slug" }, "Slug (the deep link: ?start=pack_<slug>)"), slug),
      h("div", {}, h("label", { for: "pack-open" }, open, " Open to join (/packs and the deep link)"))),
    h("div", { class: "actions changes" }, h("button", { class: "primary", id: "create-pack", onclick: async () => {
      try {
        const pack = await api("POST", "/api/character-packs", {
          name: name.value, slug: slug.value.trim(), open_to_join: open.checked });
        toast(`Created ${pack.name}`);
        location.hash = `#/packs/${pack.id}`;
      } catch (error) {
        status.textContent = error.message + (error.field ? ` (${error.field})` : "");
      }
    } }, "Create")), status));
}

async function showPack(packId) {
  const { packs } = await api("GET", "/api/character-packs");
  const pack = packs.find((item) => String(item.id) === packId);
  if (!pack) throw new Error(`there is no pack ${packId}`);
  const { members } = await api("GET", `/api/character-packs/${pack.id}/members?limit=200`);
  const name = h("input", { type: "text", id: "edit-pack-name", value: pack.name });
  const slug = h("input", { type: "text", id: "edit-pack-slug", value: pack.slug });
  const open = h("input", { type: "checkbox", id: "edit-pack-open", checked: pack.open_to_join });
  const status = h("p", { class: "error", id: "edit-pack-error" });
  const picker = idPicker("Add people", "add-members", [], searchUsers, describeUser, usersById);
  async function act(method, path, body, done) {
    try {
      await api(method, path, body);
      toast(done);
      await showPack(packId);
    } catch (error) {
      status.textContent = error.message + (error.field ? ` (${error.field})` : "");
    }
  }
  const remove = (person) => h("button", { type: "button", onclick: () =>
    act("DELETE", `/api/character-packs/${pack.id}/members/${person.id}`, undefined,
        `Removed ${personName(person)}`) }, "Remove");
  main.replaceChildren(h("section", { class: "card" },
    h("h2", {}, pack.name, " ", h("span", { class: "muted" }, `${pack.members} members`)),
    pack.deep_link ? h("p", {}, "Deep link: ", h("code", {}, pack.deep_link), " ", copyButton(pack.deep_link)) : null,
    h("div", { class: "row changes" },
      h("div", {}, h("label", { for: "edit-pack-name" }, "Name"), name),
      h("div", {}, h("label", { for: "edit-pack-slug" }, "Slug (a new one stops the old link)"), slug),
      h("div", {}, h("label", { for: "edit-pack-open" }, open, " Open to join"))),
    h("div", { class: "actions" }, h("button", { class: "primary", id: "save-pack", onclick: () =>
      act("PATCH", `/api/character-packs/${pack.id}`,
          { name: name.value, slug: slug.value.trim(), open_to_join: open.checked }, "Saved") }, "Save")),
    status,
    h("h3", {}, "Members"),
    h("div", { class: "changes" }, picker.element),
    h("div", { class: "actions" }, h("button", { id: "add-members-button", onclick: () => {
      const ids = picker.values();
      if (ids.length) act("POST", `/api/character-packs/${pack.id}/members`, { user_ids: ids }, `Added ${ids.length}`);
    } }, "Add them")),
    members.length ? peopleTable(members, remove) : h("p", { class: "muted" }, "Nobody is in this pack yet.")));
}

async function showPerson(userId) {
  const { person, deliveries } = await api("GET", `/api/people/${userId}?limit=100`);
  main.replaceChildren(h("section", { class: "card" }, h("h2", {}, personName(person)),
    peopleTable([person]),
    h("h3", {}, "What they were sent"),
    deliveries.length ? h("table", { class: "people", id: "person-deliveries" },
      h("thead", {}, h("tr", {}, ["Job", "Firing", "Status", "When", "Telegram #", "Why"]
        .map((text) => h("th", {}, text)))),
      h("tbody", {}, deliveries.map((d) => h("tr", {},
        h("td", { "data-label": "Job" }, h("a", { href: `#/executions/${d.execution_id}` }, d.job_name)),
        h("td", { "data-label": "Firing" }, `${when(d.scheduled_for)} (${d.trigger})`),
        h("td", { "data-label": "Status" }, badge(d.status)),
        h("td", { "data-label": "When" }, when(d.sent_at || d.updated_at)),
        h("td", { "data-label": "Telegram #" }, d.telegram_message_id ?? "—"),
        h("td", { "data-label": "Why", class: "muted" }, d.last_error || "")))))
      : h("p", { class: "muted" }, "Nothing was sent to them yet.")));
}
