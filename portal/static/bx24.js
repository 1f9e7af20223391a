/*
 * BX24: the JavaScript library an application page loads inside a Bitrix24 frame.
 *
 * This is the local portal's own implementation, written from the protocol description in
 * docs/protocol.md (6.3); the portal serves it at /bx24/api/v1/, its stand-in
 * for //api.bitrix24.com/api/v1/. It needs nothing from the network.
 *
 * How it works: the portal named this frame DOMAIN|PROTOCOL|APP_SID (window.name, as Bitrix24
 * does) and opened it with ?DOMAIN=&PROTOCOL=&LANG=&APP_SID= in the query (read when the name
 * says nothing). The library asks the parent page (the portal) for its init data over
 * postMessage, sending "<command>:<params-json>:<callbackId>:<APP_SID>" to the portal's origin;
 * the portal answers "<callbackId>:<json>". REST calls go straight to https?://DOMAIN/rest/
 * with the access token, as XHR form posts.
 */
(function (window) {
  "use strict";

  if (window.BX24) {
    return; // loaded twice: the first copy already holds the frame's state
  }

  var query = new URLSearchParams(window.location.search);
  var named = String(window.name || "").split("|");
  var fromName = named.length === 3 && named[0] && named[2];
  var DOMAIN = (fromName ? named[0] : query.get("DOMAIN") || "").replace(/:(80|443)$/, "");
  var SCHEME = (fromName ? named[1] : query.get("PROTOCOL")) === "1" ? "https" : "http";
  var APP_SID = fromName ? named[2] : query.get("APP_SID") || "";
  // The only origin allowed to answer us: anything else could hand the app forged tokens.
  var PORTAL_ORIGIN = DOMAIN ? SCHEME + "://" + DOMAIN : "";
  var inFrame = window.parent && window.parent !== window;

  var initData = null; // the parent's getInitData answer, once it arrived
  var authExpiresAt = 0; // ms timestamp after which AUTH_ID is dead
  var initQueue = []; // BX24.init callbacks waiting for the init data
  var readyQueue = []; // REST calls waiting for the token (they need not wait for an installer)
  var installQueue = []; // BX24.install handlers
  var installing = false; // install handlers ran; init callbacks wait for installFinish
  var pending = {}; // callbackId -> function awaiting the parent's answer
  var lasting = {}; // callbackIds that stay after their first answer
  var seq = 0;

  // --- the frame protocol ----------------------------------------------------------------

  function send(command, params, callback, keep) {
    if (!inFrame || !PORTAL_ORIGIN || !APP_SID) {
      return false; // not opened by a portal: nobody to talk to
    }
    var id = "";
    if (typeof callback === "function") {
      // Random part: ids of two frames or two page loads never collide. No ':' in it.
      id = "cb" + ++seq + "x" + Math.random().toString(36).slice(2, 10);
      pending[id] = callback;
      if (keep) {
        lasting[id] = true; // placement events: the same id answers again and again
      }
    }
    var body = params === undefined || params === null ? "" : JSON.stringify(params);
    window.parent.postMessage(command + ":" + body + ":" + id + ":" + APP_SID, PORTAL_ORIGIN);
    return true;
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== PORTAL_ORIGIN || event.source !== window.parent) {
      return;
    }
    if (typeof event.data !== "string") {
      return;
    }
    var at = event.data.indexOf(":");
    var id = at < 0 ? "" : event.data.slice(0, at);
    var callback = pending[id];
    if (!callback) {
      return;
    }
    if (!lasting[id]) {
      delete pending[id];
    }
    var value;
    try {
      value = JSON.parse(event.data.slice(at + 1));
    } catch (e) {
      value = undefined;
    }
    callback(value);
  });

  function setAuth(data) {
    if (!data || !data.AUTH_ID) {
      return;
    }
    initData.AUTH_ID = data.AUTH_ID;
    initData.REFRESH_ID = data.REFRESH_ID;
    initData.AUTH_EXPIRES = data.AUTH_EXPIRES;
    authExpiresAt = Date.now() + Number(data.AUTH_EXPIRES || 0) * 1000;
  }

  function runAll(queue) {
    while (queue.length) {
      var item = queue.shift();
      if (typeof item === "function") {
        item();
      } else if (typeof item === "string") {
        loadScript(item); // BX24.install(jsUrl): the installer lives in a script
      }
    }
  }

  function loadScript(url) {
    var script = document.createElement("script");
    script.src = url;
    document.head.appendChild(script);
  }

  function start() {
    runAll(readyQueue);
    // The installer runs first when the app is not installed and registered one; the app's
    // own init code then waits, because installFinish will reload the frame anyway.
    if (initData.INSTALL && installQueue.length) {
      installing = true;
      runAll(installQueue);
    } else {
      runAll(initQueue);
    }
  }

  send("getInitData", null, function (data) {
    if (!data || typeof data !== "object") {
      return;
    }
    initData = data;
    setAuth(data);
    start();
  });

  // --- REST calls ------------------------------------------------------------------------

  // PHP's http_build_query: nested keys as a[b][0]=..., true as 1, false as 0, null left out.
  function buildQuery(value, prefix, out) {
    out = out || [];
    if (value === null || value === undefined || typeof value === "function") {
      return out;
    }
    if (typeof value === "object" && !(value instanceof Date)) {
      var keys = Array.isArray(value) ? value.map(function (_, i) { return i; }) : Object.keys(value);
      keys.forEach(function (key) {
        buildQuery(value[key], prefix ? prefix + "[" + key + "]" : String(key), out);
      });
      return out;
    }
    if (prefix) {
      var text = value === true ? "1" : value === false ? "0" : value instanceof Date ? value.toISOString() : String(value);
      out.push(encodeURIComponent(prefix) + "=" + encodeURIComponent(text));
    }
    return out;
  }

  // What a callMethod callback gets: the answer, with the accessors apps use.
  function AjaxResult(answer, status, query) {
    this.answer = answer || {};
    this.status = status;
    this.query = query;
  }

  AjaxResult.prototype.data = function () {
    return this.answer.result;
  };

  AjaxResult.prototype.error = function () {
    if (!this.answer.error) {
      return null;
    }
    var ex = { error: this.answer.error, error_description: this.answer.error_description || "" };
    return {
      status: this.status,
      ex: ex,
      getError: function () { return ex; },
      getStatus: function () { return this.status; },
      toString: function () { return ex.error + (ex.error_description ? ": " + ex.error_description : ""); },
    };
  };

  AjaxResult.prototype.error_description = function () {
    return this.answer.error ? this.answer.error_description || "" : "";
  };

  AjaxResult.prototype.more = function () {
    return this.answer.next !== undefined && this.answer.next !== null && !isNaN(this.answer.next);
  };

  AjaxResult.prototype.total = function () {
    return parseInt(this.answer.total, 10) || 0;
  };

  AjaxResult.prototype.time = function () {
    return this.answer.time;
  };

  // The next page of a list: the same call with start=next. False when there is none.
  AjaxResult.prototype.next = function (callback) {
    if (!this.more() || !this.query) {
      return false;
    }
    var params = Object.assign({}, this.query.params, { start: this.answer.next });
    callMethod(this.query.method, params, callback || this.query.callback);
    return true;
  };

  function post(method, body, done, retried) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", SCHEME + "://" + DOMAIN + "/rest/" + encodeURIComponent(method) + ".json");
    // A form post is a "simple" cross-origin request: no preflight, as on Bitrix24.
    xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
    xhr.onload = function () {
      var answer;
      try {
        answer = JSON.parse(xhr.responseText);
      } catch (e) {
        answer = { error: "INVALID_RESPONSE", error_description: "The portal's answer is not JSON" };
      }
      // A token that died while the page was open: ask the portal for a new one, once.
      if (answer && answer.error === "expired_token" && !retried) {
        refreshAuth(function () { post(method, body, done, true); });
        return;
      }
      done(answer, xhr.status);
    };
    xhr.onerror = function () {
      done({ error: "NETWORK_ERROR", error_description: "The portal could not be reached" }, 0);
    };
    var auth = "auth=" + encodeURIComponent(initData.AUTH_ID);
    xhr.send(body ? body + "&" + auth : auth);
  }

  function callMethod(method, params, callback) {
    params = params || {};
    var query = { method: method, params: params, callback: callback };
    ready(function () {
      post(method, buildQuery(params).join("&"), function (answer, status) {
        if (typeof callback === "function") {
          callback(new AjaxResult(answer, status, query));
        }
      });
    });
  }

  // calls: {key: [method, params]} or {key: {method, params}}, or an array of those.
  function callBatch(calls, callback, haltOnError) {
    var isArray = Array.isArray(calls);
    var keys = isArray ? calls.map(function (_, i) { return i; }) : Object.keys(calls);
    var cmd = {};
    var queries = {};
    keys.forEach(function (key) {
      var call = calls[key];
      var method = Array.isArray(call) ? call[0] : call.method;
      var params = (Array.isArray(call) ? call[1] : call.params) || {};
      queries[key] = { method: method, params: params };
      cmd[key] = method + "?" + buildQuery(params).join("&");
    });
    var body = buildQuery({ halt: haltOnError ? 1 : 0, cmd: cmd }).join("&");
    ready(function () {
      post("batch", body, function (answer, status) {
        // PHP writes an empty map as [], so every part may be an array or an object.
        var r = (answer && answer.result) || {};
        var part = function (name, key) { return r[name] ? r[name][key] : undefined; };
        var results = isArray ? [] : {};
        keys.forEach(function (key) {
          var item;
          if (answer && answer.error) {
            item = answer; // the batch itself failed: every command carries its error
          } else {
            var failed = part("result_error", key);
            item = {
              result: part("result", key),
              total: part("result_total", key),
              next: part("result_next", key),
              time: part("result_time", key),
            };
            if (failed) {
              item.error = failed.error;
              item.error_description = failed.error_description;
            }
          }
          results[key] = new AjaxResult(item, status, queries[key]);
        });
        if (typeof callback === "function") {
          callback(results);
        }
      });
    });
  }

  // --- lifecycle and auth ----------------------------------------------------------------

  // An installer calls methods (event.bind, placement.bind) before installFinish: REST calls
  // wait for the init data only, never for the install phase to end.
  function ready(callback) {
    if (initData) {
      callback();
    } else {
      readyQueue.push(callback);
    }
  }

  function init(callback) {
    if (initData && !installing) {
      callback();
    } else {
      initQueue.push(callback);
    }
  }

  function install(handler) {
    if (initData && initData.INSTALL && !installing) {
      installing = true;
      runAll([handler]);
    } else {
      installQueue.push(handler);
    }
  }

  function installFinish() {
    send("setInstallFinish", {});
  }

  function getAuth() {
    if (!initData || !initData.AUTH_ID || Date.now() >= authExpiresAt) {
      return false;
    }
    return {
      access_token: initData.AUTH_ID,
      refresh_token: initData.REFRESH_ID,
      expires_in: Math.max(0, Math.round((authExpiresAt - Date.now()) / 1000)),
      domain: DOMAIN,
      member_id: initData.MEMBER_ID,
    };
  }

  function refreshAuth(callback) {
    send("refreshAuth", {}, function (data) {
      setAuth(data);
      if (typeof callback === "function") {
        callback(getAuth());
      }
    });
  }

  // --- the frame itself ------------------------------------------------------------------

  function resizeWindow(width, height, callback) {
    var size = { width: width, height: height };
    send("resizeWindow", size, typeof callback === "function" ? function () { callback(size); } : null);
  }

  function fitWindow(callback) {
    var doc = document.documentElement;
    var height = Math.max(doc.scrollHeight, document.body ? document.body.scrollHeight : 0);
    resizeWindow("100%", height, callback);
  }

  function option(name, key) {
    var all = (initData && initData[name]) || {};
    return key === undefined ? all : all[key];
  }

  // appOption.set / userOption.set: the parent saves it and answers with every option.
  function setOption(command, name, key, value, callback) {
    send(command, { name: key, value: value }, function (values) {
      if (initData && values && typeof values === "object" && !values.error) {
        initData[name] = values;
      }
      if (typeof callback === "function") {
        callback(values);
      }
    });
  }

  // A command whose answer arrives later (a picker, a slider): the callback gets it as is.
  function ask(command, params) {
    return function (callback) {
      send(command, params, typeof callback === "function" ? callback : function () {});
    };
  }

  window.BX24 = {
    init: init,
    install: install,
    installFinish: installFinish,
    callMethod: callMethod,
    callBatch: callBatch,
    getAuth: getAuth,
    refreshAuth: refreshAuth,
    fitWindow: fitWindow,
    resizeWindow: resizeWindow,
    reloadWindow: function () { send("reloadWindow", {}); },
    setTitle: function (title, callback) { send("setTitle", { title: String(title) }, callback); },
    getDomain: function () { return DOMAIN; },
    getLang: function () { return initData ? initData.LANG : query.get("LANG") || "en"; },
    isAdmin: function () { return !!(initData && initData.IS_ADMIN); },
    placement: {
      info: function () {
        return initData ? { placement: initData.PLACEMENT, options: initData.PLACEMENT_OPTIONS } : false;
      },
      call: function (command, params, callback) { send(String(command), params || {}, callback || null); },
      getInterface: function (callback) { ask("getInterface", {})(callback); },
      bindEvent: function (event, callback) {
        // The first answer confirms the binding; the event itself comes later on the same id.
        var first = true;
        send("placementBindEvent", { event: String(event) }, function handler(data) {
          if (!first && typeof callback === "function") {
            callback(data);
          }
          first = false;
        }, true);
      },
    },
    appOption: {
      get: function (key) { return option("APP_OPTIONS", key); },
      set: function (key, value, callback) { setOption("setAppOption", "APP_OPTIONS", key, value, callback); },
    },
    userOption: {
      get: function (key) { return option("USER_OPTIONS", key); },
      set: function (key, value, callback) { setOption("setUserOption", "USER_OPTIONS", key, value, callback); },
    },
    setScroll: function (scroll) { send("setScroll", { scroll: parseInt(scroll, 10) || 0 }); },
    selectUser: function (callback) { ask("selectUser", { mult: false })(callback); },
    selectUsers: function (callback) { ask("selectUser", { mult: true })(callback); },
    selectAccess: function (blocked, callback) {
      if (typeof blocked === "function") {
        callback = blocked;
        blocked = [];
      }
      ask("selectAccess", { value: blocked || [] })(callback);
    },
    selectCRM: function (params, callback) { ask("selectCRM", params || {})(callback); },
    openApplication: function (params, callback) { ask("openApplication", params || {})(callback); },
    closeApplication: function () { send("closeApplication", {}); },
    openPath: function (path, callback) { ask("openPath", { path: String(path) })(callback); },
  };
})(window);
