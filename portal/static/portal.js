/*
 * The portal page's half of the BX24 frame protocol (reference 6.3), as Bitrix24 speaks it to
 * the official BX24 library and to b24jssdk.
 *
 * Each [data-b24-frame] holds an iframe named DOMAIN|PROTOCOL|APP_SID (what the app's library
 * reads from window.name), the hidden form that opens the app in it (a POST, as Bitrix24 does)
 * and the launch data the server rendered as a JSON block. The app sends
 * "<command>:<params-json>:<callbackId>:<APP_SID>" with empty parts dropped (b24jssdk sends
 * "getInitData:<callbackId>:<APP_SID>"), or an object {method, params, callback, appSid} for
 * commands that hold ':'; we answer "<callbackId>:<json>" to the app's origin only.
 *
 * Sliders (openApplication, openPath) and the pickers (selectUser, selectAccess, selectCRM)
 * are drawn by this page, over the app, as Bitrix24 draws them.
 */
(function () {
  "use strict";

  var frames = [];

  function Frame(root, launch) {
    this.root = root;
    this.iframe = root.querySelector("iframe");
    this.form = root.querySelector("form");
    this.launch = launch || JSON.parse(root.querySelector("script.app-launch").textContent);
    this.slider = null; // the slider this frame lives in, if any
    this.events = {}; // placementBindEvent: event name -> the app's callback id
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
    // A new APP_SID means a new frame name, which the app's library reads from window.name.
    // A window that already shows another origin keeps its old name whatever the attribute
    // says (the form would then open a new tab), so a renamed frame is a new iframe.
    if (this.iframe.name !== this.launch.frame_name) {
      var fresh = document.createElement("iframe");
      fresh.name = this.launch.frame_name;
      fresh.title = this.iframe.title;
      fresh.className = this.iframe.className;
      fresh.style.cssText = this.iframe.style.cssText;
      this.iframe.replaceWith(fresh);
      this.iframe = fresh;
    }
    this.form.target = this.launch.frame_name;
    this.form.submit();
  };

  // Ask the portal server about this frame. The page key proves the request comes from this
  // page, not from the app (which knows its APP_SID but never sees the key).
  Frame.prototype.ask = function (path, extra) {
    var body = Object.assign({ app_sid: this.launch.app_sid, page_key: this.launch.page_key }, extra || {});
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (resp) {
      return resp.json().then(function (answer) {
        if (!resp.ok) {
          var error = new Error(answer.error_description || path + " answered " + resp.status);
          error.answer = answer;
          throw error;
        }
        return answer;
      });
    });
  };

  Frame.prototype.reply = function (callback, value) {
    this.iframe.contentWindow.postMessage(callback + ":" + JSON.stringify(value), this.launch.app_origin);
  };

  // --- sliders ---------------------------------------------------------------------------

  // A panel over the page with a close button; onClose runs once, however it closes.
  function Slider(title, onClose) {
    var self = this;
    this.onClose = onClose;
    this.node = document.createElement("div");
    this.node.className = "b24-slider";
    this.node.setAttribute("role", "dialog");
    this.node.setAttribute("aria-label", title);
    var bar = document.createElement("div");
    bar.className = "b24-slider-bar";
    var heading = document.createElement("span");
    heading.className = "b24-slider-title";
    heading.textContent = title;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "b24-slider-close";
    close.textContent = "Close";
    close.addEventListener("click", function () { self.close(); });
    bar.appendChild(heading);
    bar.appendChild(close);
    this.body = document.createElement("div");
    this.body.className = "b24-slider-body";
    this.node.appendChild(bar);
    this.node.appendChild(this.body);
    document.body.appendChild(this.node);
  }

  Slider.prototype.close = function () {
    if (!this.node) {
      return;
    }
    this.node.remove();
    this.node = null;
    if (this.onClose) {
      this.onClose();
    }
  };

  // The app itself in a slider (openApplication): a frame of its own, with its own APP_SID.
  function openAppSlider(opener, launch, onClose) {
    var root = document.createElement("div");
    root.className = "app-frame";
    root.setAttribute("data-b24-slider-frame", "");
    var iframe = document.createElement("iframe");
    iframe.className = "app-iframe";
    iframe.title = document.title;
    iframe.src = "about:blank";
    var form = document.createElement("form");
    form.method = "post";
    form.hidden = true;
    root.appendChild(iframe);
    root.appendChild(form);
    var frame = new Frame(root, launch);
    frame.slider = new Slider("Application", function () {
      frames.splice(frames.indexOf(frame), 1);
      onClose();
    });
    frame.slider.body.appendChild(root);
    frames.push(frame);
    frame.open(launch);
    return frame;
  }

  // A portal page in a slider (openPath). Only this portal's own pages open.
  function openPathSlider(url, onClose) {
    var slider = new Slider(url.pathname, onClose);
    var iframe = document.createElement("iframe");
    iframe.className = "b24-slider-page";
    iframe.title = url.pathname;
    // The page itself, not its IFRAME=Y slider variant, which this portal does not have.
    url.searchParams.delete("IFRAME");
    url.searchParams.delete("IFRAME_TYPE");
    iframe.src = url.pathname + url.search;
    slider.body.appendChild(iframe);
    return slider;
  }

  // --- pickers ---------------------------------------------------------------------------

  var CRM_TITLES = { lead: "Leads", contact: "Contacts", company: "Companies", deal: "Deals" };

  // A dialog listing what the portal has of each kind, with a search field. done(chosen) gets
  // the chosen items of each kind ({kind: [item...]}) and is not called when it is cancelled,
  // as Bitrix24 calls the app back only on a choice.
  function Picker(frame, title, kinds, multiple, preselected, done) {
    var self = this;
    this.frame = frame;
    this.kinds = kinds;
    this.multiple = multiple;
    this.chosen = {}; // "kind|id" -> item
    this.preselected = preselected || {};
    this.node = document.createElement("dialog");
    this.node.className = "b24-picker";
    this.node.setAttribute("aria-label", title);
    var form = document.createElement("form");
    form.method = "dialog";
    var heading = document.createElement("h2");
    heading.textContent = title;
    this.search = document.createElement("input");
    this.search.type = "search";
    this.search.placeholder = "Search";
    this.search.className = "b24-picker-search";
    this.search.setAttribute("aria-label", "Search");
    this.list = document.createElement("div");
    this.list.className = "b24-picker-list";
    var buttons = document.createElement("div");
    buttons.className = "b24-picker-buttons";
    var select = document.createElement("button");
    select.type = "button";
    select.className = "b24-picker-select";
    select.textContent = "Select";
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "b24-picker-cancel";
    cancel.textContent = "Cancel";
    buttons.appendChild(select);
    buttons.appendChild(cancel);
    form.appendChild(heading);
    form.appendChild(this.search);
    form.appendChild(this.list);
    form.appendChild(buttons);
    this.node.appendChild(form);
    document.body.appendChild(this.node);

    var timer = null;
    this.search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.load(); }, 150);
    });
    select.addEventListener("click", function () {
      var answer = {};
      Object.keys(self.chosen).forEach(function (key) {
        var item = self.chosen[key];
        (answer[item.kind] = answer[item.kind] || []).push(item.record);
      });
      self.node.close();
      self.node.remove();
      done(answer);
    });
    cancel.addEventListener("click", function () {
      self.node.close();
      self.node.remove();
    });
    this.node.showModal();
    this.load();
  }

  Picker.prototype.load = function () {
    var self = this;
    var query = this.search.value;
    Promise.all(
      this.kinds.map(function (kind) {
        return self.frame.ask("/_ui/pick", { kind: kind, query: query }).then(function (answer) {
          return { kind: kind, items: answer.items };
        });
      })
    ).then(function (groups) {
      self.render(groups);
    });
  };

  Picker.prototype.render = function (groups) {
    var self = this;
    this.list.replaceChildren();
    groups.forEach(function (group) {
      var section = document.createElement("fieldset");
      section.className = "b24-picker-group";
      section.setAttribute("data-kind", group.kind);
      var legend = document.createElement("legend");
      legend.textContent = group.kind === "user" ? "Employees" : CRM_TITLES[group.kind] || group.kind;
      section.appendChild(legend);
      var wanted = (self.preselected[group.kind] || []).map(String);
      group.items.forEach(function (record) {
        var key = group.kind + "|" + record.id;
        var bare = String(record.id).split("_").pop(); // selectCRM's value lists bare ids
        if (wanted.indexOf(String(record.id)) >= 0 || wanted.indexOf(bare) >= 0) {
          self.chosen[key] = { kind: group.kind, record: record };
        }
        var label = document.createElement("label");
        label.className = "b24-picker-item";
        var input = document.createElement("input");
        input.type = self.multiple ? "checkbox" : "radio";
        input.name = "b24-pick";
        input.value = key;
        input.checked = !!self.chosen[key];
        input.addEventListener("change", function () {
          if (!self.multiple) {
            self.chosen = {};
          }
          if (input.checked) {
            self.chosen[key] = { kind: group.kind, record: record };
          } else {
            delete self.chosen[key];
          }
        });
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + (record.title || record.name)));
        section.appendChild(label);
      });
      self.list.appendChild(section);
    });
  };

  // --- the commands ----------------------------------------------------------------------

  function applyOptions(frame, name, values) {
    frame.launch.init[name] = values; // a later getInitData (a reload) sees them
    return values;
  }

  function asList(value) {
    if (Array.isArray(value)) {
      return value;
    }
    return value ? [value] : [];
  }

  // What each command does. A handler returns the answer, a Promise of it, or undefined when
  // there is nothing to answer yet (the frame is going away, or a slider or a picker answers
  // later through frame.reply).
  var commands = {
    getInitData: function (frame) {
      return frame.launch.init;
    },
    // b24jssdk sends it when FIRST_RUN is set: the app has seen its first run.
    setInstall: function (frame) {
      frame.launch.init.FIRST_RUN = false;
      return {};
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
    setAppOption: function (frame, params) {
      return frame.ask("/_ui/app-option", { name: params.name, value: params.value }).then(function (answer) {
        return applyOptions(frame, "APP_OPTIONS", answer.APP_OPTIONS);
      });
    },
    setUserOption: function (frame, params) {
      return frame.ask("/_ui/user-option", { name: params.name, value: params.value }).then(function (answer) {
        return applyOptions(frame, "USER_OPTIONS", answer.USER_OPTIONS);
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
    setScroll: function (frame, params) {
      var scroll = parseInt(params.scroll, 10);
      window.scrollTo(0, scroll > 0 ? scroll : 0);
      return {};
    },
    openApplication: function (frame, params, callback) {
      var options = params && typeof params === "object" && !Array.isArray(params) ? params : {};
      return frame.ask("/_ui/open-application", { options: options }).then(function (answer) {
        openAppSlider(frame, answer.launch, function () {
          // Bitrix24 calls the opener back when the slider closes.
          if (callback) {
            frame.reply(callback, {});
          }
        });
        return undefined;
      });
    },
    closeApplication: function (frame) {
      if (frame.slider) {
        frame.slider.close();
        return undefined;
      }
      return {}; // the main page of an app is not a slider: nothing to close
    },
    openPath: function (frame, params, callback) {
      var url;
      try {
        url = new URL(String(params.path || ""), window.location.origin);
      } catch (e) {
        url = null;
      }
      if (!url || url.origin !== window.location.origin || !params.path) {
        return { result: "error", errorCode: "PATH_NOT_ALLOWED" };
      }
      openPathSlider(url, function () {
        if (callback) {
          frame.reply(callback, { result: "close" });
        }
      });
      return undefined;
    },
    selectUser: function (frame, params, callback) {
      var multiple = !!params.mult;
      var title = multiple ? "Select employees" : "Select an employee";
      new Picker(frame, title, ["user"], multiple, {}, function (chosen) {
        var users = chosen.user || [];
        if (callback) {
          frame.reply(callback, multiple ? users : users[0] || null);
        }
      });
      return undefined;
    },
    // Access codes: this portal has employees only, so "U<id>" (as Bitrix24 writes them).
    selectAccess: function (frame, params, callback) {
      new Picker(frame, "Select access", ["user"], true, {}, function (chosen) {
        var codes = (chosen.user || []).map(function (u) { return { id: "U" + u.id, name: u.name }; });
        if (callback) {
          frame.reply(callback, codes);
        }
      });
      return undefined;
    },
    selectCRM: function (frame, params, callback) {
      var kinds = asList(params.entityType).filter(function (k) { return CRM_TITLES[k]; });
      if (!kinds.length) {
        kinds = ["lead", "contact", "company", "deal"];
      }
      var preselected = params.value && typeof params.value === "object" ? params.value : {};
      new Picker(frame, "Select CRM items", kinds, !!params.multiple, preselected, function (chosen) {
        if (callback) {
          frame.reply(callback, chosen);
        }
      });
      return undefined;
    },
    // The placements this portal shows offer no commands or events of their own.
    getInterface: function () {
      return { command: [], event: [] };
    },
    placementBindEvent: function (frame, params, callback) {
      // The first answer settles the app's promise; later messages on the same callback id
      // would deliver the event, should the placement ever fire one.
      if (params.event && callback) {
        frame.events[String(params.event)] = callback;
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

  function parseParams(text) {
    if (!text) {
      return {};
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      return text; // a raw value (b24jssdk's isRawValue): passed as it came
    }
  }

  // Strings are "<command>[:<params>][:<callbackId>]:<APP_SID>": the APP_SID is last, the
  // callback id before it, and the params (JSON that may hold ':') are what is left between.
  // One part between command and APP_SID is the callback id, unless it is JSON.
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
    var parts = data.split(":");
    if (parts.length < 2 || !parts[0]) {
      return null;
    }
    var command = parts[0];
    var appSid = parts[parts.length - 1];
    var middle = parts.slice(1, -1);
    var callback = "";
    var params = "";
    if (middle.length === 1 && /^[\[{"]/.test(middle[0])) {
      params = middle[0];
    } else if (middle.length) {
      callback = middle[middle.length - 1];
      params = middle.slice(0, -1).join(":");
    }
    var value = parseParams(params);
    return {
      command: command,
      params: value === null || value === undefined ? {} : value,
      callback: callback,
      appSid: appSid,
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
    var handler = commands.hasOwnProperty(message.command) ? commands[message.command] : null;
    Promise.resolve()
      .then(function () {
        // Commands this portal does not implement (the messenger's) are answered with an
        // empty result, so an app waiting on its callback does not hang.
        return handler ? handler(frame, message.params, message.callback) : {};
      })
      .then(function (value) {
        if (message.callback && value !== undefined) {
          frame.reply(message.callback, value);
        }
      })
      .catch(function (error) {
        // The app learns what went wrong in Bitrix24's error shape, not silence.
        if (message.callback && error.answer) {
          frame.reply(message.callback, error.answer);
        }
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
