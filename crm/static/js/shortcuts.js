// Keyboard shortcuts (listed on /help): "/" search, "n" new, "l" log a touchpoint,
// "?" help, Escape leaves the search or closes the account menu. Keys typed into a field are never taken.
(function () {
  "use strict";

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  // A link is followed; a form field gets the focus.
  function use(element) {
    if (element.tagName === "A") {
      element.click();
    } else {
      element.scrollIntoView({block: "center"});
      element.focus();
    }
  }

  // The account menu closes as menus do: on a click or focus elsewhere, or on Escape.
  const account = document.querySelector("details.account");
  function leaveAccountMenu(event) {
    if (account && account.open && !account.contains(event.target)) {
      account.open = false;
    }
  }
  document.addEventListener("click", leaveAccountMenu);
  document.addEventListener("focusin", leaveAccountMenu);

  document.addEventListener("keydown", function (event) {
    // Enter in a form's finder searches (its results come as you type); it must not
    // send the form before one of them is chosen.
    if (event.key === "Enter" && event.target.matches("input[data-finder]")) {
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key === "Escape" && account && account.open) {
      account.open = false;
      account.querySelector("summary").focus();
      return;
    }
    const search = document.getElementById("global-search");
    if (event.key === "Escape" && search && event.target === search) {
      search.value = "";
      document.getElementById("search-results").replaceChildren();
      search.blur();
      return;
    }
    if (typing(event.target)) {
      return;
    }
    if (event.key === "/" && search) {
      event.preventDefault();
      search.focus();
    } else if (event.key === "?") {
      window.location.assign("/help");
    } else if (event.key === "n" || event.key === "l") {
      const element = document.querySelector('[data-shortcut="' + event.key + '"]');
      if (element) {
        event.preventDefault();
        use(element);
      }
    }
  });
})();
