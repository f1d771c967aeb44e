// The embedded admin page: four views filled from the app's JSON API under /app/api/.
// Every call carries Shopify's ID token from App Bridge (never in a URL); every failure is shown in plain words.
(function () {
  "use strict";

  var API = document.body.dataset.api;
  var PROVIDER_NAMES = readJson(document.body.dataset.providerNames, {});
  var PROVIDER_FORMS = readJson(document.body.dataset.providerForms, {});
  var RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request";
  var ACTIVITY_LIMIT = 100;
  var NEEDS_ACTION_TAGS = ["print-change-needs-action", "print-mirror-failed"];

  var state = { status: null, outcomes: [] };

  // ------------------------------------------------------------------ helpers

  function $(id) {
    return document.getElementById(id);
  }

  function readJson(text, fallback) {
    try {
      return JSON.parse(text);
    } catch (error) {
      return fallback;
    }
  }

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (attributes[name] !== null && attributes[name] !== undefined) node.setAttribute(name, attributes[name]);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function badge(tone, text) {
    return element("s-badge", { tone: tone }, [text]);
  }

  // Links come from the app's own API, but only web addresses become links: never a javascript: URL.
  function safeUrl(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.toString() : null;
    } catch (error) {
      return null;
    }
  }

  // An order in the Shopify admin replaces the whole admin page, not just this frame: target _top.
  function adminLink(url, text) {
    var href = safeUrl(url);
    if (!href) return element("span", {}, [text]);
    return element("a", { href: href, target: "_top", rel: "noopener" }, [text]);
  }

  function formatTime(iso) {
    if (!iso) return null;
    var date = new Date(iso);
    if (isNaN(date.getTime())) return String(iso);
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function timeElement(iso) {
    return element("time", { datetime: iso, title: iso }, [formatTime(iso) || "never"]);
  }

  function providerName(name) {
    return PROVIDER_NAMES[name] || name || "the print provider";
  }

  function words(value) {
    return String(value || "").replace(/_/g, " ");
  }

  function plural(count, one, many) {
    return count + " " + (count === 1 ? one : many);
  }

  function showResult(id, tone, text) {
    var box = $(id);
    box.dataset.tone = tone;
    box.textContent = text;
    box.hidden = false;
  }

  function hideResult(id) {
    var box = $(id);
    box.hidden = true;
    box.textContent = "";
  }

  function showPageError(text) {
    $("page-error-text").textContent = text;
    $("page-error").hidden = false;
  }

  function clearPageError() {
    $("page-error").hidden = true;
    $("page-error-text").textContent = "";
  }

  // ------------------------------------------------------------------ the API

  function AppError(message) {
    this.name = "AppError";
    this.message = message;
  }
  AppError.prototype = Object.create(Error.prototype);

  async function idToken() {
    if (!window.shopify || typeof window.shopify.idToken !== "function") {
      throw new AppError(
        "Shopify's App Bridge did not load, so this page cannot prove to the app who you are. " +
          "Open the app from your Shopify admin (Apps), and check that nothing blocks cdn.shopify.com."
      );
    }
    try {
      var token = await window.shopify.idToken();
    } catch (error) {
      throw new AppError("Shopify did not hand out a session token: " + (error && error.message ? error.message : error));
    }
    if (!token) throw new AppError("Shopify handed out an empty session token. Reload the app from your Shopify admin.");
    return token;
  }

  async function send(method, path, body, token) {
    var options = {
      method: method,
      headers: { Authorization: "Bearer " + token, Accept: "application/json" },
      cache: "no-store",
      credentials: "same-origin",
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    try {
      return await fetch(API + path, options);
    } catch (error) {
      throw new AppError("Could not reach the app (" + (error && error.message ? error.message : error) + "). Check your connection and try again.");
    }
  }

  // One call: the token goes in the Authorization header only. Shopify's rule for a refused session: when the
  // answer is 401 with the retry header, fetch a fresh token and try exactly once more.
  async function api(method, path, body) {
    var response = await send(method, path, body, await idToken());
    if (response.status === 401 && response.headers.get(RETRY_HEADER) === "1") {
      response = await send(method, path, body, await idToken());
    }
    var text = await response.text();
    var data = text ? readJson(text, null) : null;
    return { status: response.status, ok: response.ok, data: data };
  }

  // What went wrong, in words a merchant can act on.
  function failure(result, doing) {
    var said = result.data && typeof result.data.error === "string" ? result.data.error : "";
    if (result.status === 401) {
      return "Shopify's session could not be verified while " + doing + (said ? ": " + said : "") + ". Reload the app from your Shopify admin.";
    }
    if (result.status === 503) {
      return (said || "A service the app needs did not answer") + ". Nothing was changed; try again in a minute.";
    }
    if (said) return said;
    if (result.data === null) return "The app answered HTTP " + result.status + " without a readable answer while " + doing + ".";
    return "The app answered HTTP " + result.status + " while " + doing + ".";
  }

  function messageOf(error) {
    return error && error.message ? error.message : String(error);
  }

  // ------------------------------------------------------------------ views

  var VIEWS = ["status", "connect", "settings", "activity"];
  var loaders = {};

  function showView(name) {
    if (VIEWS.indexOf(name) < 0) return;
    VIEWS.forEach(function (view) {
      var selected = view === name;
      $("view-" + view).hidden = !selected;
      $("tab-" + view).setAttribute("aria-selected", selected ? "true" : "false");
    });
    document.body.dataset.view = name;
    if (loaders[name]) loaders[name]();
  }

  // ------------------------------------------------------------------ status

  async function loadStatus() {
    document.body.dataset.status = "loading";
    try {
      var result = await api("GET", "/status");
      if (!result.ok || !result.data) throw new AppError(failure(result, "loading the status"));
      state.status = result.data;
      renderStatus(result.data);
      clearPageError();
      document.body.dataset.status = "loaded";
    } catch (error) {
      $("status-loading").textContent = "The status could not be loaded.";
      showPageError(messageOf(error));
      document.body.dataset.status = "error";
    }
  }

  function renderStatus(status) {
    $("status-loading").hidden = true;
    $("status-content").hidden = false;
    $("status-shop").textContent = status.shop || "";
    renderProvider(status.provider || {});
    renderProviderChoices(status.providers || []);
    renderWebhooks(status.webhooks || {});
    renderReconciliation(status.reconciliation || {});
    renderBacklog(status.backlog || {});
    renderFailedJobs(status.failed_jobs || { count: 0, jobs: [] });
    renderNeedsAction(status.needs_action || { orders: [] });
    if (status.settings) renderSettings(status.settings);
  }

  function providerSentence(provider) {
    var name = providerName(provider.name);
    if (!provider.connected) return "";
    var parts = [];
    if (provider.source === "default") {
      parts.push(name + " through the deployment-wide account that the app's operator set up (GELATO_API_KEY).");
      parts.push("Connect your own account to use it instead.");
    } else {
      parts.push(name + " account" + (provider.key_hint ? " with the key " + provider.key_hint : "") + ".");
    }
    var form = PROVIDER_FORMS[provider.name] || {};
    if (provider.store_id) parts.push((form.store_id_label || "Store id") + " " + provider.store_id + ".");
    if (provider.connected_at) parts.push("Connected " + formatTime(provider.connected_at) + ".");
    if (provider.last_checked_at) parts.push("Last checked " + formatTime(provider.last_checked_at) + ".");
    return parts.join(" ");
  }

  function renderProvider(provider) {
    var cell = $("provider-status");
    cell.replaceChildren(
      provider.connected
        ? badge("success", provider.source === "default" ? "Connected (deployment-wide account)" : "Connected")
        : badge("critical", "Not connected")
    );
    cell.dataset.connected = provider.connected ? "true" : "false";
    $("provider-detail").textContent = providerSentence(provider);
    $("provider-detail").hidden = !provider.connected;
    $("provider-missing").hidden = !!provider.connected;

    $("connect-current").textContent = provider.connected
      ? "Now: " + providerSentence(provider)
      : "Now: no print provider is connected.";
    // Only a store's own key can be removed; the deployment-wide account belongs to the operator.
    $("disconnect-button").disabled = provider.source !== "shop";
  }

  function renderProviderChoices(providers) {
    var select = $("provider-select");
    var chosen = select.value;
    select.replaceChildren.apply(
      select,
      providers.map(function (name) {
        return element("option", { value: name }, [providerName(name)]);
      })
    );
    if (providers.indexOf(chosen) >= 0) select.value = chosen;
    updateConnectForm();
  }

  function renderWebhooks(webhooks) {
    var box = $("webhooks-status");
    if (webhooks.error) {
      box.replaceChildren(badge("critical", "Unknown"), " Could not ask Shopify: " + webhooks.error);
    } else if (webhooks.registered) {
      box.replaceChildren(badge("success", "Registered"), " " + (webhooks.topics || []).join(", "));
    } else {
      box.replaceChildren(
        badge("critical", "Missing"),
        " Shopify does not send " + (webhooks.missing || []).join(", ") + " to the app, so it cannot react to those events at once."
      );
    }
  }

  function renderBacklog(backlog) {
    var waiting = (backlog.queued || 0) + (backlog.retrying || 0) + (backlog.running || 0);
    var box = $("backlog-status");
    if (!waiting) {
      box.replaceChildren(badge("success", "None"), " Nothing of this store is waiting: every change received so far is done.");
      return;
    }
    var parts = [plural(backlog.queued || 0, "job waits", "jobs wait"), plural(backlog.retrying || 0, "job waits", "jobs wait") + " to be retried"];
    parts.push(plural(backlog.running || 0, "job is", "jobs are") + " running");
    box.replaceChildren(
      badge("warning", plural(waiting, "job", "jobs")),
      " " + parts.join(", ") + (backlog.complete === false ? " (at least: the queue is long)" : "") + ".",
      backlog.oldest_queued_at ? " Oldest waiting since " : "",
      backlog.oldest_queued_at ? timeElement(backlog.oldest_queued_at) : "",
      backlog.oldest_queued_at ? "." : ""
    );
  }

  function renderReconciliation(reconciliation) {
    var box = $("reconciliation-status");
    var seconds = reconciliation.interval_seconds;
    if (!seconds) {
      box.replaceChildren(badge("warning", "Off"), " The periodic sweep is turned off: a webhook that never arrives is not caught up.");
      return;
    }
    var every = seconds % 60 === 0 ? plural(seconds / 60, "minute", "minutes") : plural(seconds, "second", "seconds");
    var last = reconciliation.last_sweep_at;
    box.replaceChildren(
      "Every " + every + " the app asks Shopify which orders changed. Last sweep: ",
      last ? timeElement(last) : "none yet",
      "."
    );
  }

  function renderFailedJobs(failed) {
    var jobs = failed.jobs || [];
    var count = failed.count || 0;
    $("failed-jobs-summary").replaceChildren(
      count
        ? badge("critical", plural(count, "job", "jobs"))
        : badge("success", "None"),
      count ? " gave up after every retry. Act on these orders in your print provider's dashboard." : " No job gave up."
    );
    $("failed-jobs-list").replaceChildren.apply(
      $("failed-jobs-list"),
      jobs.map(function (job) {
        return element("li", { "data-testid": "failed-job" }, [
          element("strong", {}, ["Order " + (job.order_id || "?")]),
          " — " + (job.job || "job") + ": " + (job.error || "no error recorded"),
          job.ended_at ? " (" + formatTime(job.ended_at) + ")" : "",
        ]);
      })
    );
  }

  function renderNeedsAction(needs) {
    var orders = needs.orders || [];
    var summary = $("needs-action-summary");
    if (needs.error) {
      summary.replaceChildren(badge("critical", "Unknown"), " Could not ask Shopify: " + needs.error);
    } else if (!orders.length) {
      summary.replaceChildren(badge("success", "None"), " No order is tagged " + NEEDS_ACTION_TAGS.join(" or ") + ".");
    } else {
      summary.replaceChildren(
        badge("warning", plural(orders.length, "order", "orders")),
        " tagged " + NEEDS_ACTION_TAGS.join(" or ") + ": open each one and read its note."
      );
    }
    $("needs-action-list").replaceChildren.apply(
      $("needs-action-list"),
      orders.map(function (order) {
        var tags = (order.tags || []).filter(function (tag) {
          return NEEDS_ACTION_TAGS.indexOf(tag) >= 0;
        });
        return element(
          "li",
          { "data-testid": "needs-action-order" },
          [adminLink(order.url, order.name || "Order " + order.id), " "].concat(
            tags.map(function (tag) {
              return badge(tag === "print-mirror-failed" ? "critical" : "warning", tag);
            })
          )
        );
      })
    );
  }

  // ------------------------------------------------------------------ connect

  // The key's help, the store id's name and whether it is required follow the chosen provider.
  function updateConnectForm() {
    var form = PROVIDER_FORMS[$("provider-select").value];
    if (!form) return;
    $("api-key-help").textContent = form.key_help;
    $("store-id-label").textContent = form.store_id_label;
    $("store-id-help").textContent = form.store_id_help;
    $("store-id-optional").hidden = form.store_id_required;
    $("store-id").required = form.store_id_required;
  }

  async function connect(event) {
    event.preventDefault();
    var provider = $("provider-select").value;
    var apiKey = $("api-key").value.trim();
    var storeId = $("store-id").value.trim();
    if (!provider) return showResult("connect-result", "critical", "Choose a print provider first.");
    if (!apiKey) return showResult("connect-result", "critical", "Paste your API key first.");
    var body = { provider: provider, api_key: apiKey };
    if (storeId) body.store_id = storeId;
    var button = $("connect-button");
    button.disabled = true;
    showResult("connect-result", "info", "Checking the key with " + providerName(provider) + "…");
    try {
      var result = await api("PUT", "/provider", body);
      if (result.status === 200 && result.data) {
        $("api-key").value = "";
        var connected = result.data.provider || {};
        var text = result.data.message || "Connected to " + providerName(connected.name) + ".";
        showResult("connect-result", "success", text + (connected.key_hint ? " Key " + connected.key_hint + "." : ""));
        await loadStatus();
      } else if (result.status === 422) {
        showResult("connect-result", "critical", "Not connected; nothing was saved. " + failure(result, "checking the key"));
      } else {
        showResult("connect-result", "critical", "Not connected. " + failure(result, "connecting"));
      }
    } catch (error) {
      showResult("connect-result", "critical", "Not connected. " + messageOf(error));
    } finally {
      button.disabled = false;
    }
  }

  async function disconnect() {
    var button = $("disconnect-button");
    button.disabled = true;
    showResult("disconnect-result", "info", "Disconnecting…");
    try {
      var result = await api("DELETE", "/provider");
      if (result.ok && result.data) {
        var provider = result.data.provider || {};
        showResult(
          "disconnect-result",
          provider.connected ? "success" : "warning",
          provider.connected
            ? "Your key was removed. The deployment-wide account is used from now on."
            : "Disconnected: no print provider account is connected now."
        );
        await loadStatus();
      } else {
        showResult("disconnect-result", "critical", "Still connected. " + failure(result, "disconnecting"));
        button.disabled = false;
      }
    } catch (error) {
      showResult("disconnect-result", "critical", "Still connected. " + messageOf(error));
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ settings

  function renderSettings(settings) {
    var box = $("cancel-and-replace");
    box.checked = !!settings.cancel_and_replace;
    box.disabled = false;
  }

  async function loadSettings() {
    try {
      var result = await api("GET", "/settings");
      if (!result.ok || !result.data) throw new AppError(failure(result, "loading the settings"));
      renderSettings(result.data);
    } catch (error) {
      showResult("settings-result", "critical", "The settings could not be loaded. " + messageOf(error));
    }
  }

  async function saveSettings() {
    var box = $("cancel-and-replace");
    var wanted = box.checked;
    box.disabled = true;
    showResult("settings-result", "info", "Saving…");
    try {
      var result = await api("PUT", "/settings", { cancel_and_replace: wanted });
      if (!result.ok || !result.data) throw new AppError(failure(result, "saving the settings"));
      renderSettings(result.data);
      showResult(
        "settings-result",
        "success",
        result.data.cancel_and_replace ? "Saved: cancel and replace is on." : "Saved: cancel and replace is off."
      );
    } catch (error) {
      box.checked = !wanted; // the server kept the old value: show that, not what was clicked
      showResult("settings-result", "critical", "Not saved. " + messageOf(error));
    } finally {
      box.disabled = false;
    }
  }

  // ------------------------------------------------------------------ activity

  function renderOutcomes(outcomes) {
    var select = $("activity-outcome");
    var chosen = select.value;
    var options = [element("option", { value: "" }, ["Any outcome"])].concat(
      outcomes.map(function (outcome) {
        return element("option", { value: outcome }, [words(outcome)]);
      })
    );
    select.replaceChildren.apply(select, options);
    select.value = outcomes.indexOf(chosen) >= 0 ? chosen : "";
  }

  function outcomeTone(outcome) {
    if (outcome === "cancelled" || outcome === "already_canceled" || outcome === "in_sync" || outcome === "patched" || outcome === "replaced") {
      return "success";
    }
    if (outcome === "too_late" || outcome === "change_too_late" || outcome === "replace_failed") return "critical";
    if (outcome === "needs_action") return "warning";
    return "auto";
  }

  function activityRow(entry) {
    var orderText = entry.order_name || "Order " + entry.order_id;
    var what = [entry.detail || words(entry.action)];
    if (entry.error) what.push(element("span", { class: "critical" }, [" Error: " + entry.error]));
    return element("tr", { "data-testid": "activity-row", "data-order-id": entry.order_id, "data-outcome": entry.outcome }, [
      element("td", {}, [timeElement(entry.created_at)]),
      element("td", { "data-testid": "activity-order" }, [adminLink(entry.order_url, orderText)]),
      element("td", { "data-testid": "activity-print-order" }, [
        entry.print_order_id ? element("code", {}, [entry.print_order_id]) : element("span", { class: "muted" }, ["—"]),
      ]),
      element("td", {}, [
        entry.topic || "sweep",
        entry.status_seen ? element("div", { class: "muted" }, ["print order was " + words(entry.status_seen)]) : null,
      ]),
      element("td", { "data-testid": "activity-outcome" }, [badge(outcomeTone(entry.outcome), words(entry.outcome))]),
      element("td", { class: "detail" }, what),
    ]);
  }

  async function loadActivity() {
    var order = $("activity-order").value.trim().replace(/^#/, "");
    if (order && !/^[0-9]+$/.test(order)) {
      $("activity-summary").textContent =
        "The order id is the number at the end of the order's address in your Shopify admin (…/orders/5678901234): digits only.";
      $("activity-summary").dataset.tone = "critical";
      return;
    }
    var query = new URLSearchParams({ limit: String(ACTIVITY_LIMIT) });
    if (order) query.set("order", order);
    if ($("activity-outcome").value) query.set("outcome", $("activity-outcome").value);
    $("activity-summary").dataset.tone = "";
    $("activity-summary").textContent = "Loading…";
    document.body.dataset.activity = "loading";
    try {
      var result = await api("GET", "/activity?" + query.toString());
      if (!result.ok || !result.data) throw new AppError(failure(result, "loading the activity"));
      var entries = result.data.activity || [];
      if (result.data.outcomes) renderOutcomes(result.data.outcomes);
      $("activity-rows").replaceChildren.apply($("activity-rows"), entries.map(activityRow));
      $("activity-summary").textContent = entries.length
        ? plural(entries.length, "decision", "decisions") + (entries.length >= ACTIVITY_LIMIT ? " (the newest " + ACTIVITY_LIMIT + ")" : "") + "."
        : order
          ? "Nothing for order id " + order + " matches. The order id is the number at the end of the order's address in your Shopify admin (…/orders/5678901234), not its name (#1001)."
          : query.get("outcome")
            ? "Nothing matches this filter."
            : "Nothing yet: decisions appear here when an order is cancelled or changed.";
      document.body.dataset.activity = "loaded";
    } catch (error) {
      $("activity-summary").textContent = "The activity could not be loaded. " + messageOf(error);
      $("activity-summary").dataset.tone = "critical";
      document.body.dataset.activity = "error";
    }
  }

  // ------------------------------------------------------------------ wiring

  loaders.status = loadStatus;
  loaders.settings = loadSettings;
  loaders.activity = loadActivity;

  VIEWS.forEach(function (view) {
    $("tab-" + view).addEventListener("click", function () {
      showView(view);
    });
  });
  document.querySelectorAll("[data-goto]").forEach(function (button) {
    button.addEventListener("click", function () {
      showView(button.dataset.goto);
    });
  });
  $("connect-form").addEventListener("submit", connect);
  $("provider-select").addEventListener("change", updateConnectForm);
  $("disconnect-button").addEventListener("click", disconnect);
  $("cancel-and-replace").addEventListener("change", saveSettings);
  $("settings-form").addEventListener("submit", function (event) {
    event.preventDefault();
  });
  $("activity-filter").addEventListener("submit", function (event) {
    event.preventDefault();
    loadActivity();
  });
  $("activity-clear").addEventListener("click", function () {
    $("activity-order").value = "";
    $("activity-outcome").value = "";
    loadActivity();
  });

  // Anything that slips through still reaches the merchant, never only the console.
  window.addEventListener("unhandledrejection", function (event) {
    showPageError("Unexpected error: " + messageOf(event.reason));
  });

  // Until the status names the providers, offer the ones this app version knows.
  renderProviderChoices(Object.keys(PROVIDER_NAMES));
  showView("status");
})();
