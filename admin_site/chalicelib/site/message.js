// The message editor's photo, URL buttons, link preview and protect-content fields, the
// paid-broadcast switch (it costs Telegram Stars: off unless ticked), and the preview drawn
// as Telegram shows the message: the photo above its caption, the buttons
// under the bubble. app.js's messageFields and previewBox use them. The API checks each
// field (messages/attachments.py) and names the one to fix; data-field on each input holds
// that name, so mark() can point at it.
"use strict";

const MAX_BUTTONS_PER_ROW = 8;  // Telegram's limits, as the API checks them
const MAX_BUTTONS = 100;

function messageExtras(message) {
  const photo = h("input", { type: "text", id: "photo", "data-field": "message.photo",
                             value: message.photo || "", autocomplete: "off",
                             placeholder: "https://example.com/menu.jpg, or a file_id" });
  const buttons = buttonRows(message.buttons || []);
  const preview = h("input", { type: "checkbox", id: "link-preview",
                               checked: message.link_preview !== false });
  const protect = h("input", { type: "checkbox", id: "protect-content",
                               checked: !!message.protect_content });
  const paid = paidBroadcast(message);
  const previewLabel = h("label", { class: "muted" }, preview, " Show a preview of the first link");
  const photoChanged = () => {  // a photo's caption has no link preview
    preview.disabled = photo.value.trim() !== "";
    previewLabel.title = preview.disabled ? "A photo's caption gets no link preview" : "";
  };
  photo.addEventListener("input", photoChanged);
  photoChanged();
  return {
    element: [
      h("label", { for: "photo" }, "Photo (optional)"), photo,
      h("p", { class: "muted hint" }, "A public link to a picture, or the file_id Telegram gave",
        " one. With a photo the text above is its caption: at most 1024 characters, and it may",
        " be empty."),
      h("label", {}, "Buttons (optional: links under the message, up to 8 in a row)"),
      buttons.element,
      previewLabel,
      h("label", { class: "muted" }, protect, " Protect content (it cannot be forwarded or saved)"),
      paid.element,
    ],
    value: () => ({ photo: photo.value.trim() || null, buttons: buttons.value(),
                    link_preview: preview.checked, protect_content: protect.checked,
                    paid_broadcast: paid.checked() }),
  };
}

// Telegram's allow_paid_broadcast: up to 1,000 messages a second instead of 30, each one over
// the free 30/s billed 0.1 Stars from the bot's balance. Off by default; says what it costs.
function paidBroadcast(message) {
  const box = h("input", { type: "checkbox", id: "paid-broadcast", "data-field":
                           "message.paid_broadcast", checked: message.paid_broadcast === true });
  const cost = h("p", { class: "hint paid-cost", id: "paid-cost" },
    "⭐ Costs Telegram Stars: 0.1 Star for every message sent over the free 30 a second",
    " (about 97 Stars a second at the full 1,000/s), paid from the bot's balance. When the",
    " balance runs out, the rest fail; top it up, then retry failed.");
  const shown = () => { cost.hidden = !box.checked; };
  box.addEventListener("change", shown);
  shown();
  return {
    element: h("div", { class: "paid-broadcast" },
      h("label", { class: "paid-label", for: "paid-broadcast" }, box,
        " Paid broadcast — up to 1,000 messages/s, billed in Telegram Stars for every message",
        " over the free 30/s"),
      cost),
    checked: () => box.checked,
  };
}

// The marker a paid broadcast's job carries in the jobs table and on its page.
function paidMark() {
  return h("span", { class: "badge paid", title: "A paid broadcast: it costs Telegram Stars" },
    "⭐ paid broadcast");
}

// Rows of {label, link} inputs. A button left blank is dropped when the value is read, so
// each input's data-field (message.buttons[row][button].url) matches what is sent.
function buttonRows(rows) {
  const box = h("div", { class: "button-rows", id: "buttons", "data-field": "message.buttons" });
  const count = () => box.querySelectorAll(".button-cell").length;
  const renumber = () => {
    [...box.querySelectorAll(".button-row")].forEach((row, r) => {
      row.dataset.field = `message.buttons[${r}]`;
      const cells = [...row.querySelectorAll(".button-cell")];
      cells.forEach((cell, c) => {
        cell.querySelector(".button-text").dataset.field = `message.buttons[${r}][${c}].text`;
        cell.querySelector(".button-url").dataset.field = `message.buttons[${r}][${c}].url`;
      });
      row.querySelector(".add-button").disabled = cells.length >= MAX_BUTTONS_PER_ROW
        || count() >= MAX_BUTTONS;
    });
    addRow.disabled = count() >= MAX_BUTTONS;
  };
  const cell = (button) => {
    const text = h("input", { type: "text", class: "button-text", value: button.text || "",
                              placeholder: "Label", "aria-label": "Button label", maxlength: 64 });
    const url = h("input", { type: "text", class: "button-url", value: button.url || "",
                             placeholder: "https://…", "aria-label": "Button link" });
    const element = h("div", { class: "button-cell" }, text, url,
      h("button", { type: "button", class: "link remove-button", title: "Remove this button",
                    "aria-label": "Remove this button", onclick: () => remove(element) }, "×"));
    return element;
  };
  const row = (buttons) => {
    const element = h("div", { class: "button-row" });
    const add = h("button", { type: "button", class: "link add-button", onclick: () => {
      element.insertBefore(cell({}), add);
      renumber();
      add.previousSibling.querySelector("input").focus();
    } }, "+ button");
    element.append(...buttons.map(cell), add);
    return element;
  };
  const remove = (element) => {
    const parent = element.parentElement;
    element.remove();
    if (!parent.querySelector(".button-cell")) parent.remove();
    renumber();
  };
  const addRow = h("button", { type: "button", class: "secondary", id: "add-button-row",
    onclick: () => {
      box.append(row([{}]));
      renumber();
      box.lastChild.querySelector("input").focus();
    } }, "+ Row of buttons");
  rows.forEach((buttons) => box.append(row(buttons)));
  renumber();
  return {
    element: h("div", {}, box, h("div", { class: "actions" }, addRow)),
    value: () => {
      for (const blank of [...box.querySelectorAll(".button-cell")].filter((element) =>
        [...element.querySelectorAll("input")].every((input) => !input.value.trim()))) {
        remove(blank);
      }
      return [...box.querySelectorAll(".button-row")].map((element) =>
        [...element.querySelectorAll(".button-cell")].map((button) => ({
          text: button.querySelector(".button-text").value.trim(),
          url: button.querySelector(".button-url").value.trim(),
        })));
    },
  };
}

// Point at the input an API error names (error.field, e.g. message.buttons[1][0].url).
function markField(root, field) {
  root.querySelectorAll(".invalid").forEach((element) => element.classList.remove("invalid"));
  if (!field) return;
  const target = [...root.querySelectorAll("[data-field]")].find((e) => e.dataset.field === field);
  if (!target) return;
  target.classList.add("invalid");
  if (target.matches("input, textarea")) {
    target.focus();
    target.addEventListener("input", () => target.classList.remove("invalid"), { once: true });
  }
}

// A preview's sample (POST /api/jobs/{name}/preview) as Telegram draws it.
function telegramPreview(sample) {
  const bubble = h("div", { class: `preview${sample.photo ? " with-photo" : ""}` },
    sample.photo ? photoPreview(sample.photo) : null,
    sample.text ? h("div", { class: "preview-text" },
      sample.parse_mode === "HTML" ? htmlPreview(sample.text) : sample.text) : null);
  const keyboard = (sample.reply_markup && sample.reply_markup.inline_keyboard) || [];
  const marks = [
    sample.protect_content ? "🔒 Protected: it cannot be forwarded or saved" : null,
    !sample.photo && sample.link_preview === false ? "No link preview" : null,
    sample.silent ? "🔕 Silent" : null,
    sample.paid_broadcast ? "⭐ Paid broadcast (costs Telegram Stars)" : null,
  ].filter(Boolean);
  return h("div", { class: "telegram" }, bubble,
    keyboard.length ? h("div", { class: "preview-buttons" }, keyboard.map((buttons) =>
      h("div", { class: "preview-row" }, buttons.map((button) => h("a", {
        class: "preview-button", title: button.url, target: "_blank", rel: "noopener noreferrer",
        href: /^(https?|tg):/i.test(button.url) ? button.url : null,
      }, button.text, " ↗"))))) : null,
    marks.length ? h("p", { class: "muted preview-marks" }, marks.join(" · ")) : null);
}

function photoPreview(photo) {
  if (/^https?:\/\//i.test(photo)) {
    return h("img", { class: "preview-photo", src: photo, alt: "The message's photo",
                      referrerpolicy: "no-referrer" });
  }
  return h("div", { class: "preview-photo file-id" },
    `🖼 A photo Telegram keeps (file_id ${photo.slice(0, 16)}…); the preview cannot show it.`);
}
