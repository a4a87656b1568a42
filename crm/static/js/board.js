// The boards (journeys and deals): drop a card on a column, or press its "Move…" link,
// and a dialog asks where to and why. A card names the form it posts to
// (data-move-url); a column, the value it stands for (data-target). Delegated handlers
// also serve cards loaded later by htmx.
document.addEventListener("DOMContentLoaded", () => {
  const dialog = document.getElementById("move-dialog");
  if (!dialog) return;
  const form = dialog.querySelector("form");

  const open = (card, target) => {
    form.action = card.dataset.moveUrl;
    form.elements.to.value = target || "";
    dialog.querySelector("[data-subject]").textContent = card.dataset.name;
    dialog.showModal();
    const next = target && form.elements.reason ? form.elements.reason : form.elements.to;
    next.focus();
  };

  document.addEventListener("click", (event) => {
    const link = event.target.closest("[data-move]");
    if (link) {
      event.preventDefault();
      open(link.closest("[data-card]"));
    } else if (event.target.closest("[data-close]")) {
      dialog.close();
    }
  });
  document.addEventListener("dragstart", (event) => {
    const card = event.target.closest?.("[data-card]");
    if (card) event.dataTransfer.setData("text/plain", card.dataset.card);
  });
  document.querySelectorAll(".column").forEach((column) => {
    column.addEventListener("dragover", (event) => {
      event.preventDefault();
      column.classList.add("drop-target");
    });
    column.addEventListener("dragleave", () => column.classList.remove("drop-target"));
    column.addEventListener("drop", (event) => {
      event.preventDefault();
      column.classList.remove("drop-target");
      const id = event.dataTransfer.getData("text/plain");
      const card = document.querySelector(`[data-card="${CSS.escape(id)}"]`);
      if (card && card.closest(".column") !== column) open(card, column.dataset.target);
    });
  });
});
