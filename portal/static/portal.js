/*
 * The portal page's half of the BX24 frame protocol (reference 6.3).
 *
 * Each [data-b24-frame] holds an iframe, the hidden form that opens the app in it (a POST,
 * as Bitrix24 does) and the launch data the server rendered as a JSON block. An app's BX24
 * library sends "<command>:<params-json>:<callbackId>:<APP_SID>"; we answer
 * "<callbackId>:<json>" to the app's origin only.
 */
(function () {
  "use strict";

  var frames = [];

  function Frame(root) {
    this.iframe = root.querySelector("iframe");
    this.form = root.querySelector("form");
    this.launch = JSON.parse(root.querySelector("script.app-launch").textContent);
  }

  // Open (or reopen) the app: fill the form from a launch and POST it into the iframe.
  Frame.prototype.open = function (launch) {
    if (launch) {
      this.launch = launch;
      this.form.action = launch.action;
      this.form.replaceChildren();
      for (var i = 0; i < launch.fields.length; i++) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = launch.fields[i][0];
        input.value = launch.fields[i][1];
        this.form.appendChild(input);
      }
    }
    this.form.submit();
  };

  // Ask the portal server about this frame. The page key proves the request comes from this
  // page, not from the app (which knows its APP_SID but never sees the key).
  Frame.prototype.ask = function (path) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ app_sid: this.launch.app_sid, page_key: this.launch.page_key }),
    }).then(function (resp) {
      if (!resp.ok) {
        throw new Error(path + " answered " + resp.status);
      }
      return resp.json();
    });
  };

  Frame.prototype.reply = function (callback, value) {
    this.iframe.contentWindow.postMessage(callback + ":" + JSON.stringify(value), this.launch.app_origin);
  };

  // What each command does. A handler returns the answer, a Promise of it, or undefined when
  // there is nothing to answer (the frame is being reloaded and the old page is going away).
  var commands = {
    getInitData: function (frame) {
      return frame.launch.init;
    },
    refreshAuth: function (frame) {
      return frame.ask("/_ui/refresh-auth").then(function (tokens) {
        Object.assign(frame.launch.init, tokens); // a later getInitData sees the new token
        return tokens;
      });
    },
    setInstallFinish: function (frame) {
      return frame.ask("/_ui/install-finish").then(function (answer) {
        if (answer.launch) {
          frame.open(answer.launch); // the installer is done: open the app's handler
          markInstalled(answer.launch.client_id);
          return undefined;
        }
        return {};
      });
    },
    reloadWindow: function (frame) {
      return frame.ask("/_ui/relaunch").then(function (answer) {
        frame.open(answer.launch);
        return undefined;
      });
    },
    resizeWindow: function (frame, params) {
      var height = parseInt(params.height, 10);
      if (height > 0) {
        frame.iframe.style.height = height + "px";
      }
      var width = params.width;
      if (width === "100%" || (typeof width === "string" && /^\d+%$/.test(width))) {
        frame.iframe.style.width = width;
      } else if (parseInt(width, 10) > 0) {
        frame.iframe.style.width = parseInt(width, 10) + "px";
      }
      return { width: params.width, height: params.height };
    },
    setTitle: function (frame, params) {
      var title = String(params.title || "");
      document.title = title;
      var header = document.querySelector("[data-b24-title]");
      if (header) {
        header.textContent = title;
      }
      return {};
    },
  };

  // The menu's "not installed" badge goes once the installer finished.
  function markInstalled(clientId) {
    var item = document.querySelector('.left-menu li[data-client-id="' + CSS.escape(clientId) + '"] .badge');
    if (item) {
      item.remove();
    }
  }

  // "<command>:<params-json>:<callbackId>:<APP_SID>"; the JSON may itself hold ':', so the
  // last two fields are cut from the right. Newer BX24 builds send an object instead.
  function parse(data) {
    if (data && typeof data === "object") {
      return {
        command: String(data.method || ""),
        params: data.params || {},
        callback: String(data.callback || ""),
        appSid: String(data.appSid || ""),
      };
    }
    if (typeof data !== "string") {
      return null;
    }
    var first = data.indexOf(":");
    var last = data.lastIndexOf(":");
    var middle = data.slice(first + 1, last);
    var cut = middle.lastIndexOf(":");
    if (first < 0 || cut < 0) {
      return null;
    }
    var params = {};
    var text = middle.slice(0, cut);
    if (text) {
      try {
        params = JSON.parse(text);
      } catch (e) {
        return null;
      }
    }
    return {
      command: data.slice(0, first),
      params: params && typeof params === "object" ? params : {},
      callback: middle.slice(cut + 1),
      appSid: data.slice(last + 1),
    };
  }

  window.addEventListener("message", function (event) {
    // Only our own iframes, from the app's origin, with the APP_SID we issued for them.
    var frame = null;
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].iframe.contentWindow === event.source) {
        frame = frames[i];
      }
    }
    if (!frame || event.origin !== frame.launch.app_origin) {
      return;
    }
    var message = parse(event.data);
    if (!message || message.appSid !== frame.launch.app_sid) {
      return;
    }
    var handler = commands[message.command];
    Promise.resolve()
      .then(function () {
        // Commands this portal does not implement are answered with an empty result, so
        // an app waiting on its callback does not hang.
        return handler ? handler(frame, message.params) : {};
      })
      .then(function (value) {
        if (message.callback && value !== undefined) {
          frame.reply(message.callback, value);
        }
      })
      .catch(function (error) {
        if (window.console) {
          window.console.warn("BX24 command " + message.command + " failed:", error);
        }
      });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var roots = document.querySelectorAll("[data-b24-frame]");
    for (var i = 0; i < roots.length; i++) {
      var frame = new Frame(roots[i]);
      frames.push(frame);
      frame.open(null);
    }
  });
})();
