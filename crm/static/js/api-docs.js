// Starts Swagger UI on /docs from the vendored bundle; a file, not an inline script,
// so that the Content-Security-Policy can forbid inline scripts.
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
