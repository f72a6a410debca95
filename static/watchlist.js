// Keyboard focus after a row is deleted in place. htmx swaps the row out for nothing,
// and the focused Delete button goes with it, which would leave focus on the page itself.
// Focus moves to the row that takes its place (the next one, else the one before), or to
// the add form's symbol field once the list is empty.
"use strict";

document.addEventListener("htmx:beforeSwap", (event) => {
  const { requestConfig, target, shouldSwap } = event.detail;
  const form = requestConfig && requestConfig.elt; // the element that made the request
  if (!shouldSwap || !form || !form.matches("form.delete") || target.tagName !== "TR") {
    return;
  }
  const neighbour = target.nextElementSibling || target.previousElementSibling;
  // htmx swaps as soon as this event returns.
  setTimeout(() => {
    const next = neighbour && neighbour.isConnected
      ? neighbour.querySelector("a[href], input, button")
      : document.getElementById("add-symbol");
    if (next) {
      next.focus();
    }
  });
});

// Quotes refresh while the tab is visible only. The poll (#quotes-poll, every few
// seconds or once a ttl) is skipped while the page is hidden, and runs at once when it
// shows again. Done here because htmx, under allowEval: false, cannot evaluate a trigger
// condition such as [document.visibilityState == 'visible'].
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.elt.id === "quotes-poll" && document.visibilityState !== "visible") {
    event.preventDefault();
  }
});

document.addEventListener("visibilitychange", () => {
  const poll = document.getElementById("quotes-poll");
  if (poll && document.visibilityState === "visible" && window.htmx) {
    window.htmx.trigger(poll, "quotes:refresh");
  }
});

// Quote times in the reader's own time zone: the server, which does not know it, writes
// today's times in UTC ("14:32 UTC"); dates and "closed" stay as they are.
function localTimes(root) {
  for (const time of root.querySelectorAll("td.last time[datetime]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!time.textContent.endsWith(" UTC") || Number.isNaN(moment.getTime())) {
      continue;
    }
    time.textContent = moment.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    time.title = moment.toISOString().replace(".000Z", "Z");
  }
}
document.addEventListener("DOMContentLoaded", () => localTimes(document));
document.addEventListener("htmx:load", (event) => localTimes(event.detail.elt));

// The filter asks once for each state of its form. Typing then pressing Enter at once
// would send the same request twice (the submit, then the typing's debounce): the second
// is dropped, so history gains one step.
let lastFilter = null;
document.addEventListener("htmx:beforeRequest", (event) => {
  const form = event.detail.elt.closest && event.detail.elt.closest("form.filter");
  if (!form) {
    return;
  }
  const asked = `${form.action}?${new URLSearchParams(new FormData(form))}`;
  if (asked === lastFilter) {
    event.preventDefault();
    return;
  }
  lastFilter = asked;
});
// A page shown anew (a load, or the back button's) starts from what it shows.
function resetFilter() {
  const form = document.querySelector("form.filter");
  lastFilter = form ? `${form.action}?${new URLSearchParams(new FormData(form))}` : null;
}
document.addEventListener("DOMContentLoaded", resetFilter);
document.addEventListener("htmx:historyRestore", resetFilter);
