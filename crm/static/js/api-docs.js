// Starts Swagger UI on /docs from the vendored bundle; a file, not an inline script,
// so that the Content-Security-Policy can forbid inline scripts.
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Past 150 operations Swagger UI renders only what is on screen; the filter box
    // (by tag) takes a reader straight to one domain.
    filter: true,
  });
});
