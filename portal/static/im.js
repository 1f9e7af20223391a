// The messenger page: draws the dialog, sends what the person writes, runs keyboard buttons,
// and polls for the bot's answers (they arrive once the bot's app has handled the event).
(function () {
  "use strict";
  var dialog = document.querySelector(".im-dialog");
  if (!dialog) { return; }
  var botId = dialog.dataset.dialog;
  var sessid = dialog.dataset.sessid;
  var userQuery = dialog.dataset.userQuery || "";
  var list = dialog.querySelector(".im-messages");
  var form = dialog.querySelector(".im-form");
  var input = form.querySelector("textarea");
  var errorBox = dialog.querySelector(".im-error");
  var drawn = "";
  var pressedButtons = {};

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function post(path, body) {
    body.sessid = sessid;
    return fetch(path + "?" + userQuery.replace(/^&/, ""), {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body),
      credentials: "same-origin"
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) { showError(data.error_description || ("The portal answered " + resp.status)); }
        else { showError(""); }
        return data;
      });
    }).catch(function () { showError("The portal cannot be reached"); });
  }

  function send(text) {
    text = text.trim();
    if (!text) { return Promise.resolve(); }
    return post("send", {dialog: botId, message: text}).then(refresh);
  }

  function button(message, spec, index) {
    if (spec.TYPE === "NEWLINE") {
      var br = document.createElement("span");
      br.className = "im-newline";
      return br;
    }
    if (spec.LINK) {
      var a = document.createElement("a");
      a.href = spec.LINK;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = spec.TEXT;
      return a;
    }
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = spec.TEXT;
    var key = message.id + ":" + index;
    b.disabled = spec.DISABLED === "Y" || (spec.BLOCK === "Y" && pressedButtons[key]);
    b.addEventListener("click", function () {
      if (spec.BLOCK === "Y") { pressedButtons[key] = true; b.disabled = true; }
      if (spec.COMMAND) {
        post("command", {message_id: message.id, bot_id: message.author_id,
                         command: spec.COMMAND, params: spec.COMMAND_PARAMS || ""}).then(refresh);
      } else if (spec.ACTION === "SEND") {
        send(spec.ACTION_VALUE || "");
      } else if (spec.ACTION === "PUT") {
        input.value = spec.ACTION_VALUE || "";
        input.focus();
      } else if (spec.ACTION === "COPY" && navigator.clipboard) {
        navigator.clipboard.writeText(spec.ACTION_VALUE || "");
      }
    });
    return b;
  }

  function draw(messages) {
    var key = JSON.stringify(messages);
    if (key === drawn) { return; }
    drawn = key;
    list.textContent = "";
    messages.forEach(function (m) {
      var li = document.createElement("li");
      li.className = "im-message" + (m.is_bot ? " from-bot" : "") + (m.deleted ? " deleted" : "");
      li.dataset.messageId = m.id;
      var who = document.createElement("span");
      who.className = "im-author";
      who.textContent = m.author + (m.edited ? " (edited)" : "");
      var text = document.createElement("div");
      text.className = "im-text";
      text.textContent = m.deleted ? "This message was deleted" : m.text;
      li.appendChild(who);
      li.appendChild(text);
      if (m.keyboard.length) {
        var kb = document.createElement("div");
        kb.className = "im-keyboard";
        m.keyboard.forEach(function (spec, i) { kb.appendChild(button(m, spec, i)); });
        li.appendChild(kb);
      }
      list.appendChild(li);
    });
  }

  function refresh() {
    return fetch("messages.json?dialog=" + encodeURIComponent(botId) + userQuery, {credentials: "same-origin"})
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (data) { if (data) { draw(data.messages); } })
      .catch(function () { /* the next poll tries again */ });
  }

  function poll() {
    refresh().then(function () { setTimeout(poll, 400); });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });
  poll();
})();
